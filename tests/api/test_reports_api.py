"""Quality reports over HTTP against a real server: counts from recorded days, who may read
them, CSV, and filters refused with the field named."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest

from tests.support.report_days import RANGE, server_with_history
from tests.support.server import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with server_with_history(tmp_path_factory.mktemp("reports_api")) as srv:
        yield srv


def test_the_manager_reads_a_measure_with_its_counts_interval_and_cases(server: Server) -> None:
    with server.client(server.token("admin")) as c:
        r = c.get("/api/v1/reports/asc4_transfer", params=RANGE)
        assert r.status_code == 200, r.text
        body = r.json()
    assert body["cases"] == 16
    [m] = body["measures"]
    p = m["proportion"]
    assert (p["numerator"], p["denominator"], p["per"]) == (2, 16, 1000)
    assert p["rate"] == pytest.approx(125.0)
    assert 0 < p["low"] < 125 < p["high"]
    assert p["too_small"] is True  # 16 admissions: an average centre expects no transfer
    assert m["reference"] == pytest.approx(0.788)
    assert len(m["cases"]) == 2
    run = m["charts"][0]
    assert run["kind"] == "run"
    assert run["reference"] == pytest.approx(0.788)


def test_every_measure_comes_at_once_and_the_list_names_them(server: Server) -> None:
    with server.client(server.token("proceduralist")) as c:
        listed = c.get("/api/v1/reports").json()
        everything = c.get("/api/v1/reports/all", params=RANGE).json()
    assert [m["id"] for m in everything["measures"]] == [m["id"] for m in listed]
    by_id = {m["id"]: m for m in everything["measures"]}
    assert by_id["first_case_on_time"]["proportion"]["denominator"] == 4  # 2 rooms x 2 days
    assert by_id["turnover"]["tables"][0]["rows"]
    assert all(m["definition"] for m in listed)


def test_a_room_filter_takes_only_the_cases_placed_there(server: Server) -> None:
    with server.client(server.token("admin")) as c:
        one = c.get("/api/v1/reports/all", params={**RANGE, "room": "PR1"}).json()
        none = c.get("/api/v1/reports/all", params={**RANGE, "room": "PR4"}).json()
    assert one["cases"] == 8
    assert none["cases"] == 0


def test_csv_carries_the_headline_and_every_table(server: Server) -> None:
    with server.client(server.token("admin")) as c:
        r = c.get("/api/v1/reports/complications", params={**RANGE, "format": "csv"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:5] == ["measure", "group", "title", "numerator", "denominator"]
    assert rows[1][0] == "complications"
    assert ["Complications by kind and severity"] in rows


@pytest.mark.parametrize("role", ["nurse", "front_desk", "viewer"])
def test_only_the_manager_and_clinical_leads_read_reports(server: Server, role: str) -> None:
    with server.client(server.token(role)) as c:
        r = c.get("/api/v1/reports/all", params=RANGE)
    assert r.status_code == 403
    assert "manager" in r.json()["messages"][0]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"levels": "9"}, "levels"),
        ({"room": "x" * 101}, "room"),
        ({"room": "PR1\x00"}, "query"),  # refused before any route: no control characters
    ],
)
def test_a_bad_filter_is_refused_naming_the_field(
    server: Server, params: dict[str, str], field: str
) -> None:
    with server.client(server.token("admin")) as c:
        r = c.get("/api/v1/reports/all", params=params)
    assert r.status_code == 422, r.text
    assert field in r.json()["fields"]


def test_an_unknown_measure_is_a_404(server: Server) -> None:
    with server.client(server.token("admin")) as c:
        r = c.get("/api/v1/reports/asc99")
    assert r.status_code == 404
    assert "asc99" in r.json()["messages"][0]


def test_reading_a_report_is_an_audit_row_naming_the_measure_and_days(server: Server) -> None:
    with server.client(server.token("admin")) as c:
        assert c.get("/api/v1/reports/overrides", params=RANGE).status_code == 200
        rows = c.get("/api/v1/audit").json()
    mine = [r for r in rows if r["action"] == "report"]
    assert mine
    assert mine[-1]["detail"] == f"overrides {RANGE['from']}..{RANGE['to']}"
    assert mine[-1]["case_id"] is None
