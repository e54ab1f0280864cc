"""FHIR export as an operator and a hospital system use it: `daycase fhir export` and
`GET /fhir/Encounter/{id}/$everything` on a real server over a demo day (SQLite)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from daycase.fhir.validate import bundle_problems
from tests.fhir.cases import TZ, schedule
from tests.support.cli import daycase
from tests.support.clock import centre_now
from tests.support.databases import demo_database
from tests.support.server import Server, run_server

DAY = date(2026, 11, 26)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with demo_database("sqlite", tmp_path_factory.mktemp("fhir"), patients=6, seed=5) as found:
        yield found


@pytest.fixture(scope="module")
def server(url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(url, tmp_path_factory.mktemp("fhir_server")) as srv:
        yield srv


def case_ids(out: Path) -> list[str]:
    return sorted(p.stem for p in out.glob("*.json"))


def test_a_days_export_writes_a_valid_bundle_per_case(url: str, tmp_path: Path) -> None:
    out = tmp_path / "export"
    found = daycase(
        "fhir", "export", "--day", DAY.isoformat(), "--out", str(out), "--validate", "--db", url
    )
    assert found.returncode == 0, found.stdout + found.stderr
    assert "6 bundle(s) written" in found.stderr
    ids = case_ids(out)
    assert len(ids) == 6
    for case_id in ids:
        bundle = json.loads((out / f"{case_id}.json").read_text(encoding="utf-8"))
        assert bundle["type"] == "collection"
        assert bundle_problems(bundle) == []
        kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
        assert {"Patient", "Encounter", "Procedure", "Provenance"} <= kinds
    one = daycase("fhir", "export", ids[0], "--db", url)
    assert one.returncode == 0, one.stderr
    printed = json.loads(one.stdout)
    assert printed["type"] == "searchset"
    assert {"resourceType": "Encounter", "id": ids[0]}.items() <= next(
        e["resource"] for e in printed["entry"] if e["resource"]["resourceType"] == "Encounter"
    ).items()


def test_a_folder_that_cannot_be_written_is_named(url: str, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    found = daycase("fhir", "export", "--day", DAY.isoformat(), "--out", str(blocked), "--db", url)
    assert found.returncode == 1
    assert f"--out: cannot write into {blocked}" in found.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "give one of a case id, --day or --since"),
        (("0" * 32, "--since", "2026-11-26T00:00:00Z"), "give one of a case id, --day or --since"),
        (("--day", "2026-13-01", "--out", "x"), "--day: '2026-13-01' is not a date"),
        (("--since", "2026-11-26T08:00", "--out", "x"), "'2026-11-26T08:00' is not a moment with"),
        (("--day", "2026-11-26"), "--out: exporting many cases needs a folder"),
        (("0" * 32,), "no case with id"),
        (("--day", "2026-11-27", "--out", "x"), "no case is booked on 2026-11-27"),
        (("0" * 32, "--ndjson"), "--ndjson: Bulk Data files are written for --day or --since"),
    ],
)
def test_refusals_name_what_is_wrong(url: str, args: tuple[str, ...], words: str) -> None:
    found = daycase("fhir", "export", *args, "--db", url)
    assert found.returncode == 1
    assert words in found.stderr


def test_the_server_answers_everything_for_clinical_staff_only(
    server: Server, url: str, tmp_path: Path
) -> None:
    out = tmp_path / "ids"
    daycase("fhir", "export", "--day", DAY.isoformat(), "--out", str(out), "--db", url)
    case_id = case_ids(out)[0]
    path = f"/fhir/Encounter/{case_id}/$everything"
    with server.client(server.token("nurse")) as c:
        r = c.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    bundle = r.json()
    assert bundle["type"] == "searchset"
    assert bundle["total"] == len(bundle["entry"])
    assert bundle["entry"][0]["fullUrl"].startswith(f"{server.url}/fhir/Patient/")
    assert bundle_problems(bundle) == []
    with server.client(server.token("admin")) as c:
        refused = c.get(path)
        audit = c.get("/api/v1/audit", params={"case_id": case_id}).json()
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert any(row["action"] == "fhir_export" and row["user"] == "nurse" for row in audit)
    with server.client(server.token("nurse")) as c:
        assert c.get("/api/v1/board", params={"date": DAY.isoformat()}).status_code == 200
        again = c.get(path).json()
        missing = c.get(f"/fhir/Encounter/{'0' * 32}/$everything")
    reads = [e["resource"] for e in again["entry"] if e["resource"]["resourceType"] == "AuditEvent"]
    assert any(
        r["entity"][1]["description"] == "fhir_export"
        and r["agent"][0]["who"]["display"] == "nurse (nurse)"
        for r in reads
    )
    # The board showed every case at once: that read stays in daycase's log only.
    assert "board" not in {r["entity"][1]["description"] for r in reads}
    assert missing.status_code == 404
    assert "No case with id" in missing.json()["issue"][0]["diagnostics"]
    with server.client() as c:
        assert c.get(path).status_code == 401


def test_a_day_as_bulk_data_files(url: str, tmp_path: Path) -> None:
    out = tmp_path / "bulk"
    found = daycase(
        "fhir", "export", "--day", DAY.isoformat(), "--out", str(out), "--ndjson", "--db", url
    )
    assert found.returncode == 0, found.stdout + found.stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    counts = {o["type"]: o["count"] for o in manifest["output"]}
    assert counts["Patient"] == counts["Encounter"] == 6
    for kind, count in counts.items():
        lines = (out / f"{kind}.ndjson").read_text(encoding="utf-8").splitlines()
        assert len(lines) == count
        assert {json.loads(line)["resourceType"] for line in lines} == {kind}
    resources = [
        {"fullUrl": f"urn:x:{r['resourceType']}/{r['id']}", "resource": r}
        for kind in counts
        for r in map(json.loads, (out / f"{kind}.ndjson").read_text().splitlines())
    ]
    assert (
        bundle_problems({"resourceType": "Bundle", "type": "collection", "entry": resources}) == []
    )


def test_the_capability_statement_says_what_is_supported(server: Server) -> None:
    import fhir.resources.R4B as r4b

    with server.client(server.token("nurse")) as c:
        r = c.get("/fhir/metadata")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    statement = r.json()
    r4b.get_fhir_model_class("CapabilityStatement").model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1"
    [rest] = statement["rest"]
    assert [(x["type"], [o["name"] for o in x["operation"]]) for x in rest["resource"]] == [
        ("Encounter", ["everything"])
    ]


def roomless(bundle: dict[str, Any]) -> dict[str, Any]:
    """The schedule without its Location participants (the demo centre has no rooms)."""
    for entry in bundle["entry"]:
        r = entry["resource"]
        if r["resourceType"] == "Appointment":
            r["participant"] = [p for p in r["participant"] if "urn:uuid:l" not in str(p)]
    return bundle


def tomorrow_at_eight() -> str:
    """Tomorrow by the suite's clock, which the server reads too (at any hour it runs)."""
    day = centre_now().astimezone(TZ).date() + timedelta(days=1)
    return datetime.combine(day, time(8, 0), TZ).isoformat()


def test_the_server_takes_the_hospitals_schedule(server: Server) -> None:
    bundle = roomless(schedule({"ident": "API-1", "start": tomorrow_at_eight()}))
    with server.client(server.token("front_desk")) as c:
        first = c.post("/fhir", json=bundle)
        again = c.post("/fhir", json=bundle)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("application/fhir+json")
    body = first.json()
    assert body["type"] == "transaction-response"
    assert len(body["entry"]) == len(bundle["entry"])
    booked = body["entry"][3]["response"]
    assert booked["status"] == "201 Created"
    assert booked["location"].startswith("Encounter/")
    assert again.json()["entry"][3]["response"] == {
        "status": "200 OK",
        "location": booked["location"],
    }
    broken = copy.deepcopy(bundle)
    del broken["entry"][3]["resource"]["start"]
    with server.client(server.token("front_desk")) as c:
        refused = c.post("/fhir", json=broken)
    assert refused.status_code == 400
    assert refused.json()["issue"][0]["diagnostics"].startswith("entry[3] Appointment.start")
    with server.client(server.token("anesthesia")) as c:
        forbidden = c.post("/fhir", json=bundle)
    assert forbidden.status_code == 403
    assert forbidden.json()["resourceType"] == "OperationOutcome"


def test_cases_changed_since_a_moment_as_bulk_data(
    server: Server, url: str, tmp_path: Path
) -> None:
    """An export `--since` the last one's `transactionTime` holds what changed between."""
    server.token("front_desk")  # the user the import books as
    first = tmp_path / "first"
    before_all = "2026-11-25T00:00:00-05:00"
    done = daycase(
        "fhir", "export", "--since", before_all, "--out", str(first), "--ndjson", "--db", url
    )
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((first / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["request"] == f"daycase fhir export --ndjson --since {before_all}"
    encounters = {o["type"]: o["count"] for o in manifest["output"]}["Encounter"]
    assert encounters >= 6
    demo_day = set(case_ids_of_day(url, tmp_path))
    path = tmp_path / "schedule.json"
    path.write_text(
        json.dumps(roomless(schedule({"ident": "SINCE-1", "start": tomorrow_at_eight()}))),
        encoding="utf-8",
    )
    booked = daycase("fhir", "import", str(path), "--by", "front_desk", "--db", url)
    assert booked.returncode == 0, booked.stderr
    case_id = booked.stdout.split("(case ")[1].split(")")[0]
    later = tmp_path / "later"
    found = daycase(
        "fhir",
        "export",
        "--since",
        manifest["transactionTime"],
        "--out",
        str(later),
        "--validate",
        "--db",
        url,
    )
    assert found.returncode == 0, found.stderr
    assert case_id in case_ids(later)
    assert not demo_day & set(case_ids(later))  # recorded on the demo day, long before
    future = daycase(
        "fhir",
        "export",
        "--since",
        "2099-01-01T00:00:00+00:00",
        "--out",
        str(tmp_path / "none"),
        "--db",
        url,
    )
    assert future.returncode == 0, future.stderr
    assert "0 bundle(s) written" in future.stderr


def case_ids_of_day(url: str, tmp_path: Path) -> list[str]:
    out = tmp_path / "day"
    daycase("fhir", "export", "--day", DAY.isoformat(), "--out", str(out), "--db", url)
    return case_ids(out)


def test_the_command_line_imports_a_schedule(url: str, tmp_path: Path) -> None:
    path = tmp_path / "schedule.json"
    path.write_text(
        json.dumps(roomless(schedule({"ident": "CLI-1", "start": tomorrow_at_eight()}))),
        encoding="utf-8",
    )
    done = daycase("fhir", "import", str(path), "--by", "front_desk", "--db", url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("entry[3]: booked (case ")
    again = daycase("fhir", "import", str(path), "--by", "front_desk", "--db", url)
    assert again.stdout.startswith("entry[3]: unchanged (case ")
    nobody = daycase("fhir", "import", str(path), "--by", "nobody", "--db", url)
    assert nobody.returncode == 1
    assert "--by: no active user 'nobody'" in nobody.stderr
    path.write_text('{"resourceType": "Bundle", "type": "batch"}', encoding="utf-8")
    refused = daycase("fhir", "import", str(path), "--by", "front_desk", "--db", url)
    assert refused.returncode == 1
    assert "a schedule comes as a transaction" in refused.stderr
    assert "Nothing of the bundle was stored." in refused.stderr
