"""Golden bundles: the exports of scripted cases, held as files, so that any change to
what a hospital receives is seen in review (fhir room).

Each case runs through the case service with a fixed clock and ids (`tests/fhir/cases`).
After a deliberate change to the export, write the files again with
`DAYCASE_UPDATE_GOLDEN=1 pytest tests/fhir/test_golden.py` and read the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from daycase.fhir.export import CaseExport, Read, bundle, case_resources
from daycase.fhir.validate import bundle_problems
from tests.engine.builders import START, Day
from tests.fhir.cases import admitted_day, booked, corrected_day, discharged_day

GOLDEN = Path(__file__).parent / "golden"
BASE = "https://hospital.example/fhir"


def in_pre_op() -> Day:
    """A one-level (T8) case through its pre-op checks, not yet in the room."""
    return booked("T8")


CASES: dict[str, Callable[[], Day]] = {
    "two_levels_home_by_override": discharged_day,
    "one_abandoned_complication_admitted": admitted_day,
    "amended_and_voided": corrected_day,
    "in_pre_op": in_pre_op,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_export_is_the_golden_bundle(name: str) -> None:
    day = CASES[name]()
    state = day.state()
    reads = (Read(START, "nurse.ada", "nurse", "read_case"),)
    found = bundle(
        case_resources(
            CaseExport(
                state=state,
                pathway=day.service.pathway_of(state),
                room="Procedure room 1",
                reads=reads,
            )
        ),
        base=BASE,
    )
    assert bundle_problems(found) == []
    path = GOLDEN / f"{name}.json"
    text = json.dumps(found, indent=2, sort_keys=True) + "\n"
    if os.environ.get("DAYCASE_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: write it with DAYCASE_UPDATE_GOLDEN=1"
    assert json.loads(text) == json.loads(path.read_text(encoding="utf-8")), (
        f"{name}: the export differs from {path.name}"
    )
