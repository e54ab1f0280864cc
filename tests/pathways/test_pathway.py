"""The built-in pathway encodes the whole spec; bad files fail with file and key path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import textstat

from daycase.engine.rules import RULES
from daycase.pathways.loader import PathwayError, builtin_pathway, load_pathway, parse_pathway
from daycase.pathways.rules import RULE_PARAMS

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "kyphoplasty-pathway.md"
BUILTIN = Path(__file__).resolve().parents[2] / "src/daycase/pathways/builtin/kyphoplasty.yaml"


def spec_text() -> str:
    if not SPEC.exists():
        pytest.skip("the shared spec is not beside this checkout")
    return SPEC.read_text(encoding="utf-8")


def spec_table_ids(section: str) -> list[str]:
    """First-column ids of the spec's tables under a heading."""
    text = spec_text().split(section, 1)[1]
    text = re.split(r"\n## ", text, maxsplit=1)[0]
    return re.findall(r"^\| `([a-z_0-9]+)` \|", text, flags=re.M)


def test_every_spec_step_is_in_the_pathway() -> None:
    p = builtin_pathway("kyphoplasty")
    spec_steps = [*spec_table_ids("## Steps"), "level_abandoned"]
    assert sorted({s.id for s in p.steps}) == sorted(set(spec_steps))


def test_every_spec_alert_code_with_its_severity() -> None:
    p = builtin_pathway("kyphoplasty")
    rows = re.findall(r"^\| `([a-z_]+)` \| (info|warning|critical)", spec_text(), flags=re.M)
    assert rows, "spec alert table not found"
    assert dict(rows) == {a.code: a.severity for a in p.alerts}


def test_every_spec_role() -> None:
    p = builtin_pathway("kyphoplasty")
    assert set(spec_table_ids("## Roles")) == p.role_ids


def test_family_status_words_and_colours() -> None:
    p = builtin_pathway("kyphoplasty")
    rows = re.findall(r"^\| ([a-z_]+) \| ([A-Z][a-z ]+) \| ([a-z]+) \|", spec_text(), flags=re.M)
    assert {ph: (w.strip(), c) for ph, w, c in rows} == {
        ph.id: (ph.family.word, ph.family.colour) for ph in p.phases
    }


def test_step_roles_match_the_spec_tables() -> None:
    p = builtin_pathway("kyphoplasty")
    rows = re.findall(
        r"^\| `([a-z_]+)` \| ([a-z_, ]+) \| (once|repeat|per level) \|", spec_text(), flags=re.M
    )
    assert len(rows) >= 38
    for step_id, roles, when in rows:
        step = p.step(step_id)
        assert set(step.roles) == {r.strip() for r in roles.split(",")}, step_id
        assert step.when == when.replace(" ", "_"), step_id


def test_the_rule_registry_and_the_parameter_shapes_agree() -> None:
    assert set(RULES) == set(RULE_PARAMS)


def test_patient_texts_are_plain_language() -> None:
    p = builtin_pathway("kyphoplasty")
    texts = {f"{s.id}.{k}": getattr(s.patient, k) for s in p.steps for k in ("now", "why")}
    texts |= {f"phase {ph.id}": ph.patient for ph in p.phases}
    sheet = p.discharge_sheet
    assert sheet is not None
    for key, value in sheet.model_dump().items():
        for i, text in enumerate(value if isinstance(value, list) else [value]):
            texts[f"discharge_sheet.{key}[{i}]"] = text
    grades = {key: textstat.flesch_kincaid_grade(text) for key, text in texts.items()}
    assert all(text.strip() for text in texts.values())
    too_hard = {k: g for k, g in grades.items() if g > 8}
    assert too_hard == {}


def test_patient_texts_cover_what_the_spec_asks() -> None:
    p = builtin_pathway("kyphoplasty")
    text = {s.id: f"{s.patient.now} {s.patient.why}".lower() for s in p.steps}
    assert "half an hour" in text["antibiotic_given"]
    assert "face down" in text["positioned_prone"]
    assert "stitches" in text["dressing_applied"]
    assert "harden" in text["out_of_room"]
    assert "blood pressure" in text["pacu_vitals"]
    assert "drive" in text["transport_confirmed"]
    assert "ride" in text["transport_confirmed"]


def test_a_second_pathway_loads_without_code_changes() -> None:
    p = load_pathway(Path(__file__).with_name("vertebroplasty.yaml"))
    assert p.id == "vertebroplasty"
    assert not p.has_step("balloon_inflated")


def problems_of(text: str) -> list[str]:
    with pytest.raises(PathwayError) as err:
        parse_pathway(text, source="centre.yaml")
    assert str(err.value).startswith("centre.yaml: ")
    return err.value.problems


def edited(old: str, new: str) -> str:
    text = BUILTIN.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


def test_a_bad_range_names_the_key_path() -> None:
    problems = problems_of(
        edited("heart_rate: {type: number, min: 20", "heart_rate: {type: bool, min: 20")
    )
    assert problems == [
        "steps[1] (preop_vitals).fields.heart_rate: `min`/`max` apply to int and number fields only"
    ]


def test_an_unknown_key_is_refused() -> None:
    problems = problems_of(edited("    when: repeat\n", "    when: repeat\n    colour: red\n"))
    assert problems == ["steps[1] (preop_vitals).colour: Extra inputs are not permitted"]


def test_a_gate_naming_an_unknown_step() -> None:
    problems = problems_of(edited("      - done: [sign_in]\n", "      - done: [sign_inn]\n"))
    assert problems == ["steps[10] (in_room).gate[0]: done: unknown step 'sign_inn'"]


def test_an_alert_rule_with_bad_params() -> None:
    problems = problems_of(edited("      more_than_pct: 20\n", "      more_than_percent: 20\n"))
    assert any(p.startswith("alerts[4] (bp_drop).params.more_than_pct: ") for p in problems)
    assert any(p.startswith("alerts[4] (bp_drop).params.more_than_percent: ") for p in problems)


def test_an_unknown_rule_id() -> None:
    problems = problems_of(edited("    rule: overrun\n", "    rule: overrunn\n"))
    assert len(problems) == 1
    assert problems[0].startswith("alerts[13] (running_long).rule: unknown rule")


def test_not_yaml_at_all() -> None:
    assert problems_of("id: [unclosed")[0].startswith("not valid YAML")


def test_a_missing_file() -> None:
    with pytest.raises(PathwayError) as err:
        load_pathway("/nonexistent/pathway.yaml")
    assert "cannot read file" in str(err.value)
