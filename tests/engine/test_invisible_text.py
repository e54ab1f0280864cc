"""Invisible and direction-changing characters (issue 8, part 3; docs/engine.md).

`Ann\\u202eeoJ` is shown as "AnnJoe". Names and identifiers refuse every format character
(bidi controls, zero-width characters, the byte-order mark…); free text refuses the
bidi controls only. The engine refuses them whatever path the command came by (API,
pages, CLI, scenarios): `invalid`, naming the field, nothing stored.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from daycase.engine.check import decide_open
from daycase.engine.commands import Actor, OpenCase, Refusal
from daycase.engine.events import CaseOpened
from daycase.engine.load import builtin_pathway
from daycase.engine.text import free_text_problem, identifier_problem
from tests.engine.builders import START, Day, data_for, refusal

PATHWAY = builtin_pathway("kyphoplasty")
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068"]
BIDI += ["\u2069", "\u200e", "\u200f", "\u061c"]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\u00ad", "\U000e0041"]
OPEN = OpenCase(
    actor=Actor("fd.kim", "front_desk"),
    pathway_id="kyphoplasty",
    mrn="H-100234",
    given_name="Ann",
    family_name="Lane",
    birth_date=date(1944, 5, 17),
    sex="female",
    levels=["L1"],
    scheduled_start=START,
)


def decide(cmd: OpenCase) -> CaseOpened | Refusal:
    return decide_open(PATHWAY, cmd, case_id="c1", event_id="e1", now=START, family_code="ACDEFG")


@pytest.mark.parametrize("field", ["mrn", "given_name", "family_name"])
@pytest.mark.parametrize("char", BIDI + ZERO_WIDTH, ids=lambda c: f"U+{ord(c):04X}")
def test_a_name_or_identifier_refuses_invisible_and_direction_characters(
    field: str, char: str
) -> None:
    value = f"Ann{char}eoJ" if field != "mrn" else f"H-10{char}0234"
    cmd = {
        "mrn": replace(OPEN, mrn=value),
        "given_name": replace(OPEN, given_name=value),
        "family_name": replace(OPEN, family_name=value),
    }[field]
    result = refusal(decide(cmd))
    assert result.kind == "invalid"
    problem = result.fields[f"patient.{field}"]
    assert problem.startswith("must not contain invisible or text-direction characters")
    assert f"U+{ord(char):04X}" in problem


@pytest.mark.parametrize("name", ["Zoë", "Ngọc Ánh", "O'Brien-Ruiz", "محمد", "李", "Ægir"])
def test_names_in_any_script_are_kept(name: str) -> None:
    opened = decide(replace(OPEN, given_name=name, family_name=name))
    assert isinstance(opened, CaseOpened)
    assert opened.patient.given_name == name


def test_free_text_refuses_direction_characters_but_keeps_joiners() -> None:
    assert free_text_problem("pain ok \u202e") is not None
    assert free_text_problem("bleeding \u2066ok\u2069") is not None
    # A zero-width joiner belongs to emoji and several scripts; a line separator to prose.
    assert free_text_problem("family \U0001f468\u200d\U0001f469 waiting; \u0645\u200cی") is None
    assert identifier_problem("Ann\u200dJoe") is not None
    assert identifier_problem("Ann\u2028Joe") is not None
    assert identifier_problem("Ann Joe") is None


@pytest.mark.parametrize("char", ["\u202e", "\u2067", "\u200f"], ids=lambda c: f"U+{ord(c):04X}")
def test_step_texts_and_reasons_refuse_direction_characters(char: str) -> None:
    day = Day(version="2.0")
    day.advance_to("check_in")
    before = day.count()
    escort = data_for("check_in", version="2.0", escort_name=f"Sam{char}nomaD")
    fields = refusal(day.record("front_desk", "check_in", 1, escort)).fields
    assert "escort_name" in fields
    assert f"U+{ord(char):04X}" in fields["escort_name"]
    vitals = day.step("preop_vitals", 3)
    amended = refusal(day.amend("nurse", vitals, 4, data={"pain_score": 3}, reason=f"x{char}y"))
    assert set(amended.fields) == {"reason"}
    voided = refusal(day.void("nurse", vitals, 5, reason=f"wrong{char} patient"))
    assert set(voided.fields) == {"reason"}
    override = refusal(
        day.record("anesthesia", "incision", 6, override_reason=f"urgent{char}", occurred_at=6)
    )
    assert "override_reason" in override.fields
    assert day.count() == before + 1  # only the vitals set


@pytest.mark.parametrize("sex", ["banana", "F", "Female"])
def test_sex_is_one_of_the_record_s_choices_whatever_path_the_command_came_by(sex: str) -> None:
    """The new-case page once stored any text here (the API's schema refused it)."""
    result = refusal(decide(replace(OPEN, sex=sex)))
    assert result.fields == {"patient.sex": "must be one of female, male, other, unknown"}
    assert isinstance(decide(replace(OPEN, sex="unknown")), CaseOpened)
