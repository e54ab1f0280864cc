"""Edits made behind the store's back are found by `verify()` (store tests).

Each test writes three cases, changes one of them with the raw `sqlite3` module the way a
careless or malicious hand might, and expects verify() to name that case and no other.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from daycase.store.base import ChainProblem, EventStore
from daycase.store.factory import migrate, open_store
from tests.factories import history

CASES = ("c1", "c2", "c3")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "daycase.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[EventStore]:
    url = f"sqlite:///{db_path}"
    migrate(url)
    store = open_store(url)
    for case_id in CASES:
        store.append(history(case_id, steps=5), expected_seq=0)
    assert store.verify() == []
    yield store
    store.close()


def tamper(db_path: Path, *statements: str) -> None:
    """Run SQL on the file directly, as someone with a SQLite shell would."""
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            for statement in statements:
                conn.execute(statement)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        pytest.param(
            [
                "UPDATE events SET body = replace(body, 'arrived', 'left') "
                "WHERE case_id = 'c2' AND seq = 3"
            ],
            ChainProblem("c2", 3, "event 3 was edited (hash mismatch)"),
            id="edited-body",
        ),
        pytest.param(
            ["UPDATE events SET body = '{\"kind\": ' WHERE case_id = 'c2' AND seq = 3"],
            ChainProblem("c2", 3, "event 3 body does not parse"),
            id="unparseable-body",
        ),
        pytest.param(
            ["DELETE FROM events WHERE case_id = 'c2' AND seq = 3"],
            ChainProblem("c2", 4, "events are missing or reordered: expected seq 3, found 4"),
            id="deleted-middle",
        ),
        pytest.param(
            ["DELETE FROM events WHERE case_id = 'c2' AND seq = 6"],
            ChainProblem(
                "c2", 6, "history was cut: the case index ends at seq 6, the events at seq 5"
            ),
            id="deleted-last",
        ),
        pytest.param(
            [
                "UPDATE events SET seq = -1 WHERE case_id = 'c2' AND seq = 3",
                "UPDATE events SET seq = 3 WHERE case_id = 'c2' AND seq = 4",
                "UPDATE events SET seq = 4 WHERE case_id = 'c2' AND seq = -1",
            ],
            ChainProblem(
                "c2",
                3,
                "events are missing or reordered: the event stored as seq 3 does not follow seq 2",
            ),
            id="swapped-seq",
        ),
        pytest.param(
            ["DELETE FROM cases WHERE case_id = 'c2'"],
            ChainProblem("c2", 6, "the case index has no row (events end at 6)"),
            id="deleted-index-row",
        ),
        pytest.param(
            ["DELETE FROM events WHERE case_id = 'c2'"],
            ChainProblem("c2", 6, "history was cut: no events, index at 6"),
            id="deleted-every-event",
        ),
    ],
)
def test_verify_names_the_tampered_case_only(
    store: EventStore, db_path: Path, statements: list[str], expected: ChainProblem
) -> None:
    tamper(db_path, *statements)

    assert store.verify() == [expected]


def test_verify_names_every_damaged_case(store: EventStore, db_path: Path) -> None:
    tamper(
        db_path,
        "DELETE FROM events WHERE case_id = 'c1' AND seq = 6",
        "UPDATE events SET body = replace(body, 'nurse', 'doctor') "
        "WHERE case_id = 'c3' AND seq = 2",
    )

    assert [(p.case_id, p.seq) for p in store.verify()] == [("c1", 6), ("c3", 2)]
