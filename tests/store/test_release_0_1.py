"""A database written by daycase 0.1 still opens, evaluates exactly as before, and verifies.

The file was made before pathway versions existed (tests/fixtures/release_0_1/README.md):
its cases carry no digest and their index has no version. Migration 0004 marks them 1.0
with the 1.0 digest, the codec lifts their first events to the current version, and every
case is judged by kyphoplasty 1.0 for ever, whatever the latest version is.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from daycase.engine.events import CaseOpened
from daycase.engine.load import builtin_pathway
from daycase.services.board import case_rows
from daycase.services.cases import CaseService
from daycase.services.catalog import PathwayCatalog, PathwayUnavailable
from daycase.services.views import board_row_json, family_row_json, final_json
from daycase.store.factory import migrate, open_store
from daycase.store.sql import SqlEventStore

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "release_0_1"
TZ = ZoneInfo("America/New_York")
GOLDEN: dict[str, Any] = json.loads((FIXTURE / "golden.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    copy = tmp_path_factory.mktemp("release-0.1") / "demo.db"
    shutil.copyfile(FIXTURE / "demo.db", copy)
    url = f"sqlite:///{copy}"
    migrate(url)
    return url


def _times(day: date) -> dict[str, datetime]:
    return {
        "13:30": datetime.combine(day, time(13, 30), TZ),
        "18:00": datetime.combine(day, time(18, 0), TZ),
        "next-day-09:00": datetime.combine(day + timedelta(days=1), time(9, 0), TZ),
    }


def test_every_old_case_is_marked_1_0_with_the_1_0_digest(url: str) -> None:
    digest = builtin_pathway("kyphoplasty", "1.0").digest
    store = open_store(url)
    try:
        summaries = store.cases()
        assert len(summaries) == len(GOLDEN["cases"]) == 8
        for summary in summaries:
            assert (summary.pathway_version, summary.pathway_digest) == ("1.0", digest)
            first = store.load(summary.case_id)[0]
            assert isinstance(first, CaseOpened)
            assert (first.pathway_version, first.pathway_digest) == ("1.0", digest)
    finally:
        store.close()


def test_every_old_case_evaluates_exactly_as_the_old_release_did(url: str) -> None:
    store = open_store(url)
    try:
        service = CaseService(store)
        for case_id, expected in GOLDEN["cases"].items():
            assert service.pathway_of(service.state(case_id)).version == "1.0"
            for label, now in _times(date.fromisoformat(GOLDEN["day"])).items():
                state, ev = service.evaluate(case_id, now=now)
                staff, family = case_rows(service, case_id, now=now)
                got = {
                    "final": final_json(ev, events=len(state.history)),
                    "board": board_row_json(staff),
                    "family": family_row_json(family),
                }
                assert got == expected[label], (case_id, label)
    finally:
        store.close()


def test_daycase_verify_passes_on_the_old_file(url: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "daycase", "verify", "--db", url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "8 cases, every hash chain intact" in out.stdout


def test_a_case_whose_definition_differs_is_an_error_naming_case_pathway_and_version(
    url: str, tmp_path: Path
) -> None:
    """A 1.0 definition edited in place must never re-judge the cases opened on 1.0."""
    source = (
        Path(__file__).resolve().parents[2] / "src/daycase/pathways/builtin/kyphoplasty-1.0.yaml"
    )
    edited = tmp_path / "kyphoplasty-1.0-edited.yaml"
    text = source.read_text(encoding="utf-8")
    edited.write_text(text.replace("at_least: 60}", "at_least: 30}", 1), encoding="utf-8")
    store = open_store(url)
    try:
        service = CaseService(store, catalog=PathwayCatalog.with_files([str(edited)]))
        case_id = next(iter(GOLDEN["cases"]))
        with pytest.raises(PathwayUnavailable) as err:
            service.evaluate(case_id)
        message = str(err.value)
        assert case_id in message
        assert "kyphoplasty" in message
        assert "1.0" in message
    finally:
        store.close()


def test_verify_names_a_case_whose_version_is_not_available(url: str, tmp_path: Path) -> None:
    copy = tmp_path / "unknown-version.db"
    shutil.copyfile(sa.make_url(url).database or "", copy)
    engine = sa.create_engine(f"sqlite:///{copy}")
    with engine.begin() as conn:
        case_id = conn.execute(sa.text("SELECT case_id FROM cases LIMIT 1")).scalar_one()
        conn.execute(
            sa.text("UPDATE cases SET pathway_version = '9.9' WHERE case_id = :c"), {"c": case_id}
        )
    engine.dispose()
    out = subprocess.run(
        [sys.executable, "-m", "daycase", "verify", "--db", str(copy)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 1
    assert case_id in out.stderr
    assert "kyphoplasty@9.9" in out.stderr.replace("\n", "")
    store = SqlEventStore(sa.create_engine(f"sqlite:///{copy}"))
    store.close()
