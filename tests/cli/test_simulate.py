"""`daycase simulate` as a centre manager runs it: fitted on the centre's recorded days,
today's centre beside a what-if, and refusals that name the option (CLI, SQLite)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from daycase.config import Settings
from daycase.services.runtime import open_runtime
from tests.support.cli import NEW_YORK, daycase
from tests.support.clock import CENTRE_TZ
from tests.support.databases import database
from tests.support.report_days import DAYS, record_days


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database("sqlite", tmp_path_factory.mktemp("simulate")) as found:
        rt = open_runtime(Settings(db=found, timezone=str(CENTRE_TZ)))
        try:
            record_days(rt, DAYS, CENTRE_TZ)
        finally:
            rt.close()
        yield found


HISTORY = ("--from", DAYS[0].isoformat(), "--to", DAYS[1].isoformat())


def test_a_year_beside_a_what_if_with_its_files(url: str, tmp_path: Path) -> None:
    out_json, out_csv, out_svg = (tmp_path / f"sim.{kind}" for kind in ("json", "csv", "svg"))
    done = daycase(
        "simulate",
        *HISTORY,
        "--days",
        "10",
        "--reps",
        "4",
        "--bays",
        "+1",
        "--curve",
        "--json",
        str(out_json),
        "--csv",
        str(out_csv),
        "--svg",
        str(out_svg),
        "--db",
        url,
        env=NEW_YORK,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Fitted on 16 cases booked {DAYS[0]} to {DAYS[1]}" in done.stdout
    assert "what if: 4 rooms, 7 bays" in done.stdout
    assert "recovery at least 60 min" in done.stdout
    assert "Bays and the chance a patient waits for one" in done.stdout
    payload = json.loads(out_json.read_text(encoding="utf-8"))
    assert payload["today"]["centre"]["bays"] == 6
    assert payload["what_if"]["centre"]["bays"] == 7
    assert payload["today"]["replications"] == 4
    assert payload["floors"]["1"] == {"procedure_min": 5.0, "recovery_min": 60.0}
    assert {d["name"] for d in payload["distributions"]} >= {"recovery", "turnover"}
    assert [p["bays"] for p in payload["bays_curve"]] == list(range(1, 9))
    rows = list(csv.DictReader(out_csv.read_text(encoding="utf-8").splitlines()))
    assert {r["scenario"] for r in rows} == {"today", "what_if"}
    today = {r["figure"]: float(r["mean"]) for r in rows if r["scenario"] == "today"}
    assert today["cases done a day"] > 0
    svg = out_svg.read_text(encoding="utf-8")
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert "Patients who wait for a recovery bay" in svg
    assert ">1 bay (0.25 a room)<" in svg


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--bays", "lots"), "--bays: 'lots' is not a number, or +N / -N"),
        (("--rooms", "-9"), "--rooms: -5 is outside 1 to 50"),
        (("--from", "2026-02-30"), "--from: '2026-02-30' is not a date"),
        (("--from", "2026-03-02", "--to", "2026-03-01"), "--from: must not be after --to"),
    ],
)
def test_refusals_name_the_option(url: str, args: tuple[str, ...], words: str) -> None:
    found = daycase("simulate", "--days", "2", "--reps", "2", *args, "--db", url, env=NEW_YORK)
    assert found.returncode == 1, found.stdout + found.stderr
    assert words in found.stderr


def test_validate_predicts_a_recorded_day_it_did_not_fit_on(url: str) -> None:
    month = DAYS[1].strftime("%Y-%m")
    done = daycase(
        "simulate",
        "validate",
        "--fit-until",
        DAYS[0].isoformat(),
        "--predict-month",
        month,
        "--reps",
        "40",
        "--db",
        url,
        env=NEW_YORK,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{month} as predicted from history to {DAYS[0]}" in done.stdout
    assert DAYS[1].isoformat() in done.stdout
    assert (
        DAYS[0].isoformat()
        not in done.stdout.split("predicted from history to")[1].split("\n", 1)[1]
    )
    assert "Last discharge inside the band on" in done.stdout
    assert "40 replications a day" in done.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--fit-until", "2026-03-10", "--predict-month", "2026-13"), "is not a month (YYYY-MM)"),
        (("--fit-until", "2026-03-10", "--predict-month", "2026-02"), "must end after --fit-until"),
        (
            ("--fit-until", "2020-03-10", "--predict-month", "2020-04"),
            "no case was booked into a room in 2020-04",
        ),
    ],
)
def test_validate_refusals_name_the_option(url: str, args: tuple[str, ...], words: str) -> None:
    found = daycase("simulate", "validate", *args, "--reps", "20", "--db", url, env=NEW_YORK)
    assert found.returncode == 1, found.stdout + found.stderr
    assert words in found.stderr
