"""The centre's set-up as data: every field checked and named, versions kept for ever, a
change from an older version refused, every change written to the audit log (SQLite and
PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from daycase.config import Settings
from daycase.services.accounts import User
from daycase.services.centre_setup import (
    CentreSetup,
    SetupConflict,
    SetupRefused,
    example_yaml,
    parse_setup,
    setup_from_yaml,
    setup_to_yaml,
)
from daycase.services.runtime import Runtime, open_runtime
from tests.support.databases import BACKENDS, database

MANAGER = User("manager.ann", "admin")


@pytest.fixture(params=BACKENDS)
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    with database(request.param, tmp_path) as url:
        found = open_runtime(Settings(db=url))
        try:
            yield found
        finally:
            found.close()


def test_the_example_round_trips_and_has_the_defaults_a_centre_expects() -> None:
    setup = setup_from_yaml(example_yaml())
    assert setup_from_yaml(setup_to_yaml(setup)) == setup
    assert [r.id for r in setup.rooms] == ["PR1", "PR2", "IR1", "IR2"]
    assert CentreSetup().turnover_target_min == 15
    assert CentreSetup().first_case_grace_min == 0
    assert [r.label for r in CentreSetup().delay_reasons][-3:] == [
        "Previous case overran",
        "No recovery bay",
        "Other",
    ]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"rooms": [{"id": "R 1", "name": "Room"}]}, "rooms[1].id: use letters, digits"),
        ({"rooms": [{"id": "R1", "name": " "}]}, "rooms[1].name: must not be empty"),
        (
            {"rooms": [{"id": "R1", "name": "A", "opens": "18:00", "closes": "07:00"}]},
            "rooms[1]: closes (07:00) must be after opens (18:00)",
        ),
        # YAML reads an unquoted 7:30 as the number 450: never taken as a time.
        ({"rooms": [{"id": "R1", "name": "A", "opens": 450}]}, "rooms[1].opens: a time of day"),
        (
            {"rooms": [{"id": "R1", "name": "A"}], "recovery_bays": [{"id": "r1", "name": "B"}]},
            "rooms, pre-op bays and recovery bays: r1 is listed twice",
        ),
        ({"turnover_target_min": 0}, "turnover_target_min: Input should be greater than"),
        ({"first_case_grace_min": 61}, "first_case_grace_min: Input should be less than"),
        ({"delay_reasons": [{"code": "x", "label": "a\x07"}]}, "delay_reasons[1].label: must"),
        ({"room": []}, "room: Extra inputs are not permitted"),
    ],
)
def test_each_wrong_field_is_named(data: object, problem: str) -> None:
    with pytest.raises(SetupRefused) as refused:
        parse_setup(data)
    assert any(p.startswith(problem) for p in refused.value.problems), refused.value.problems


def test_each_change_is_a_version_with_who_and_why_and_an_audit_row(runtime: Runtime) -> None:
    assert runtime.setup.current().version == 0
    first = setup_from_yaml(example_yaml())
    stored = runtime.change_setup(first, by=MANAGER, expected_version=0, note="opening day")
    second = first.model_copy(update={"turnover_target_min": 20})
    runtime.change_setup(second, by=MANAGER, expected_version=stored.version)

    current = runtime.setup.current()
    assert (current.version, current.setup.turnover_target_min) == (2, 20)
    assert [(v.version, v.changed_by, v.note) for v in runtime.setup.history()] == [
        (2, "manager.ann", ""),
        (1, "manager.ann", "opening day"),
    ]
    assert runtime.setup.history()[1].setup == first  # nothing stored is changed
    rows = runtime.accounts.accounts.audit_rows(case_id=None)
    assert [(r.user_name, r.role, r.action, r.detail) for r in rows] == [
        ("manager.ann", "admin", "centre_setup", "version 1: opening day"),
        ("manager.ann", "admin", "centre_setup", "version 2"),
    ]


def test_two_managers_editing_the_same_version_cannot_both_win(runtime: Runtime) -> None:
    setup = setup_from_yaml(example_yaml())
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def edit(name: str) -> None:
        start.wait()
        try:
            runtime.change_setup(setup, by=User(name, "admin"), expected_version=0)
            outcomes.append("stored")
        except SetupConflict as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=edit, args=(n,)) for n in ("ann", "bo")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes.count("stored") == 1
    (refused,) = [o for o in outcomes if o != "stored"]
    assert refused.startswith("the set-up was changed by someone else (now version 1)")
    assert len(runtime.setup.history()) == 1


@pytest.mark.parametrize("expected", [-1, 1, 99])
def test_only_the_newest_version_can_be_changed(runtime: Runtime, expected: int) -> None:
    """A made-up version number (a tampered form) is refused: no version 0 or 100."""
    with pytest.raises(SetupConflict, match=r"now version 0"):
        runtime.change_setup(CentreSetup(), by=MANAGER, expected_version=expected)
    assert runtime.setup.history() == []


def test_a_change_names_who_made_it(runtime: Runtime) -> None:
    with pytest.raises(SetupRefused, match="by: name who makes the change"):
        runtime.change_setup(CentreSetup(), by=User(" ", "admin"), expected_version=0)
    assert runtime.setup.history() == []
