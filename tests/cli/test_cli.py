"""The `daycase` command as a user runs it: real processes, real SQLite files."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import NEW_YORK
from tests.support.cli import daycase as run_daycase

HERE = Path(__file__).resolve().parent


def daycase(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_daycase(*args, stdin=stdin, clean=True, env=NEW_YORK)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    out = daycase("demo", "--db", str(db), "--patients", "8")
    assert out.returncode == 0, out.stderr
    assert "Today's board" in out.stdout
    for word in ("Discharged", "Admitted", "Recovery", "OVERRIDE", "bp_drop"):
        assert word in out.stdout
    return db


def test_verify_passes_on_an_untouched_database(demo_db: Path) -> None:
    out = daycase("verify", "--db", str(demo_db))
    assert out.returncode == 0, out.stderr
    assert "8 cases, every hash chain intact" in out.stdout


def test_verify_names_the_case_whose_row_was_edited_by_hand(demo_db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "edited.db"
    with sqlite3.connect(demo_db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with sqlite3.connect(copy) as conn:
        case_id, seq, body = conn.execute(
            "SELECT case_id, seq, body FROM events WHERE kind = 'StepRecorded' "
            "ORDER BY id LIMIT 1 OFFSET 40"
        ).fetchone()
        conn.execute(
            "UPDATE events SET body = ? WHERE case_id = ? AND seq = ?",
            (body.replace('"nurse"', '"proceduralist"', 1).replace(":00", ":01", 1), case_id, seq),
        )
    conn.close()
    out = daycase("verify", "--db", str(copy))
    assert out.returncode == 1
    assert f"case {case_id}" in out.stderr
    assert "1 of 8 cases fail verification" in out.stderr


def test_pathway_validate_reports_file_and_key_path(tmp_path: Path) -> None:
    bad = tmp_path / "centre.yaml"
    text = (HERE.parent / "pathways" / "vertebroplasty.yaml").read_text(encoding="utf-8")
    bad.write_text(text.replace("when: repeat", "when: sometimes", 1), encoding="utf-8")
    out = daycase("pathway", "validate", str(bad))
    assert out.returncode == 2
    assert f"{bad}: steps[1] (preop_vitals).when: Input should be" in out.stderr.replace("\n", "")


def test_pathway_validate_accepts_a_good_file() -> None:
    out = daycase("pathway", "validate", str(HERE.parent / "pathways" / "vertebroplasty.yaml"))
    assert out.returncode == 0
    assert "pathway vertebroplasty" in out.stdout


def test_pathway_show_prints_steps_and_alerts() -> None:
    out = daycase("pathway", "show", "kyphoplasty")
    assert out.returncode == 0
    for word in ("cement_injected", "antibiotic_timing", "Getting ready to go home"):
        assert word in out.stdout


def test_scenario_file_errors_exit_2_with_action_index(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "pathway: kyphoplasty\n"
        "case:\n"
        "  patient: {mrn: H-1, given_name: A, family_name: B,\n"
        "            birth_date: 1944-05-17, sex: female}\n"
        "  levels: [L1]\n"
        "  scheduled_start: 2026-11-26T08:00:00-05:00\n"
        "actions:\n"
        "  - {at: 2026-11-26T06:45:00-05:00, as: nurse, record: check_in, data: {}}\n"
        "  - {at: 2026-11-26T06:46:00-05:00, as: surgeon, record: check_inn}\n",
        encoding="utf-8",
    )
    out = daycase("scenario", "run", str(bad), "--json")
    assert out.returncode == 2
    result = json.loads(out.stdout)
    assert result["ok"] is False
    assert f"{bad}: action 1: as: unknown role 'surgeon'" in result["error"]
    assert f"{bad}: action 1: record: unknown step 'check_inn'" in result["error"]


def test_scenario_naive_time_is_a_file_error(tmp_path: Path) -> None:
    bad = tmp_path / "naive.yaml"
    bad.write_text(
        "pathway: kyphoplasty\n"
        "case:\n"
        "  patient: {mrn: H-1, given_name: A, family_name: B,\n"
        "            birth_date: 1944-05-17, sex: female}\n"
        "  levels: [L1]\n"
        "  scheduled_start: 2026-11-26T08:00:00-05:00\n"
        "actions:\n"
        "  - {at: 2026-11-26T06:45:00, as: nurse, record: check_in}\n",
        encoding="utf-8",
    )
    out = daycase("scenario", "run", str(bad))
    assert out.returncode == 2
    assert "action 0: at: time needs a timezone" in out.stdout.replace("\n", "")
