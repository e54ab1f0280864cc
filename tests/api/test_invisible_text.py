"""Invisible and direction-changing characters refused at the wire (issue 8, part 3).

`Ann\\u202eeoJ` would show as "AnnJoe" on every board. The API refuses it in names and
identifiers with a 422 naming the field, free text refuses direction characters, a
screen label refuses both, and nothing is stored. The engine refuses the same again for
every other path (tests/engine/test_invisible_text.py).
"""

from __future__ import annotations

import re

import pytest

from tests.api.test_headers import page_client
from tests.api.wire import (
    Api,
    assert_refusal,
    case_body,
    check_in_data,
    now_utc,
    open_case,
    patient,
    record,
    shared_api,
    vitals_data,
)
from tests.support.databases import BACKENDS


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Api:
    return shared_api(request, tmp_path_factory)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("given_name", "Ann\u202eeoJ"),
        ("family_name", "La\u200bne"),
        ("family_name", "\ufeffLane"),
        ("mrn", "H-1\u2066001\u2069"),
        ("mrn", "H-1\u200d1"),
    ],
    ids=["rlo-name", "zwsp-name", "bom-name", "isolate-mrn", "zwj-mrn"],
)
def test_names_and_identifiers_refuse_invisible_characters(
    api: Api, field: str, value: str
) -> None:
    with api.nothing_stored():
        r = api.as_("front_desk").post(
            "/api/v1/cases", json=case_body(patient=patient(**{field: value}))
        )
    body = assert_refusal(r, 422, "invalid", field=f"patient.{field}")
    assert "invisible or text-direction" in body["fields"][f"patient.{field}"]


def test_reasons_refuse_direction_characters(api: Api) -> None:
    nurse = api.as_("nurse")
    case_id = open_case(nurse)
    assert record(nurse, case_id, "check_in", check_in_data(now_utc())).status_code == 201
    vitals = record(nurse, case_id, "preop_vitals", vitals_data()).json()
    base = f"/api/v1/cases/{case_id}/events/{vitals['event_id']}"
    with api.nothing_stored():
        r = nurse.post(f"{base}/void", json={"reason": "wrong \u202epatient"})
        assert_refusal(r, 422, "invalid", field="reason")
        r = nurse.post(f"{base}/amend", json={"reason": "fix\u2067", "data": {"spo2": 96}})
        assert_refusal(r, 422, "invalid", field="reason")
        # In step data (free text fields) the engine refuses them, naming the field.
        r = record(nurse, case_id, "cancelled", {"reason": "patient \u202eill"})
        assert_refusal(r, 422, "invalid", field="reason")
    # A zero-width joiner in free text is kept (emoji, several scripts need it).
    ok = nurse.post(f"{base}/void", json={"reason": "wrong chart \U0001f468\u200d\U0001f469"})
    assert ok.status_code == 201, ok.text


def test_a_screen_label_refuses_invisible_characters(api: Api) -> None:
    with page_client(api.server, "admin") as admin:
        page = admin.get("/admin/displays")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        before = page.text.count("<tr>")
        refused = admin.post("/admin/displays", data={"label": "Lobby\u202e ysal", "csrf": csrf[1]})
        assert refused.status_code == 422
        assert "invisible or text-direction characters (found U+202E)" in refused.text
        assert "New link (shown once)" not in refused.text  # no link was made
        assert admin.get("/admin/displays").text.count("<tr>") == before
