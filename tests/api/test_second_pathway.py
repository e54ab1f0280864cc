"""A second pathway works through the server, not only the scenario runner (tests room).

`daycase serve --pathway FILE` (or `DAYCASE_PATHWAY_FILES`) adds a pathway file to the
built-in ones: cases are opened on it by id, judged by it, and the roles and steps come
from it, with no code change.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.wire import Api, case_body, check_in_data, module_api, now_utc

VERTEBROPLASTY = Path(__file__).resolve().parents[1] / "pathways" / "vertebroplasty.yaml"


@pytest.fixture(scope="module", params=["sqlite"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    env = {"DAYCASE_PATHWAY_FILES": f'["{VERTEBROPLASTY}"]'}
    with module_api(request, tmp_path_factory, env) as found:
        yield found


def test_a_case_opened_on_a_served_pathway_file_follows_that_file(api: Api) -> None:
    nurse = api.as_("nurse")
    r = nurse.post("/api/v1/cases", json=case_body(pathway="vertebroplasty"))
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    r = nurse.post(
        f"/api/v1/cases/{case_id}/events",
        json={"step": "check_in", "at": now_utc().isoformat(), "data": check_in_data(now_utc())},
    )
    assert r.status_code == 201, r.text
    case = nurse.get(f"/api/v1/cases/{case_id}").json()
    assert (case["pathway"], case["pathway_version"]) == ("vertebroplasty", "0.1-test")
    assert "balloon_inflated" not in case["steps"]
    assert case["phase"] == "pre_op"
    # The built-in pathway is still the default for a case that names none.
    default = nurse.post("/api/v1/cases", json=case_body()).json()["id"]
    assert nurse.get(f"/api/v1/cases/{default}").json()["pathway"] == "kyphoplasty"
