"""The built-in pathway encodes the whole spec; bad files fail with file and key path."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import textstat

from daycase.engine.load import (
    PathwayError,
    builtin_pathway,
    builtin_versions,
    load_pathway,
    parse_pathway,
)
from daycase.engine.rules import REGISTRY

SPECS = Path(__file__).resolve().parents[3] / "shared" / "spec"
# Each released version and the specification it encodes (1.0 is frozen beside 2.0).
SPEC_FILES = {"1.0": "kyphoplasty-pathway-1.0.md", "2.0": "kyphoplasty-pathway.md"}
RELEASED = [v for v in builtin_versions("kyphoplasty") if v in SPEC_FILES]
BUILTIN = Path(__file__).resolve().parents[2] / "src/daycase/pathways/builtin/kyphoplasty-1.0.yaml"


def spec_text(version: str) -> str:
    spec = SPECS / SPEC_FILES[version]
    if not spec.exists():
        pytest.skip("the shared spec is not beside this checkout")
    return spec.read_text(encoding="utf-8")


def section(version: str, heading: str) -> str:
    text = spec_text(version).split(heading, 1)[1]
    return re.split(r"\n## ", text, maxsplit=1)[0]


def step_table_ids(version: str) -> list[str]:
    """First-column ids of the step tables (those headed `| step id |`)."""
    ids: list[str] = []
    for table in re.findall(r"^\| step id \|.*?(?=\n\n|\Z)", spec_text(version), flags=re.M | re.S):
        ids += re.findall(r"^\| `([a-z_0-9]+)` \|", table, flags=re.M)
    return ids


def test_a_released_version_for_every_spec() -> None:
    assert sorted(SPEC_FILES) == RELEASED


@pytest.mark.parametrize("version", RELEASED)
def test_every_spec_step_is_in_the_pathway(version: str) -> None:
    p = builtin_pathway("kyphoplasty", version)
    spec_steps = [*step_table_ids(version), "level_abandoned"]
    assert sorted({s.id for s in p.steps}) == sorted(set(spec_steps))


@pytest.mark.parametrize("version", RELEASED)
def test_every_spec_alert_code_with_its_severity(version: str) -> None:
    p = builtin_pathway("kyphoplasty", version)
    rows = re.findall(r"^\| `([a-z_]+)` \| (info|warning|critical)", spec_text(version), flags=re.M)
    assert rows, "spec alert table not found"
    assert dict(rows) == {a.code: a.severity for a in p.alerts}


@pytest.mark.parametrize("version", RELEASED)
def test_every_spec_role(version: str) -> None:
    p = builtin_pathway("kyphoplasty", version)
    roles = re.findall(r"^\| `([a-z_0-9]+)` \|", section(version, "## Roles"), flags=re.M)
    assert set(roles) == p.role_ids


@pytest.mark.parametrize("version", RELEASED)
def test_family_status_words_and_colours(version: str) -> None:
    p = builtin_pathway("kyphoplasty", version)
    rows = re.findall(
        r"^\| ([a-z_]+) \| ([A-Z][a-z ]+) \| ([a-z]+) \|", spec_text(version), flags=re.M
    )
    assert {ph: (w.strip(), c) for ph, w, c in rows} == {
        ph.id: (ph.family.word, ph.family.colour) for ph in p.phases if not ph.aftercare
    }


@pytest.mark.parametrize("version", RELEASED)
def test_step_roles_match_the_spec_tables(version: str) -> None:
    p = builtin_pathway("kyphoplasty", version)
    rows = re.findall(
        r"^\| `([a-z_]+)` \| ([a-z_, ]+) \| (once|repeat|per level) \|",
        spec_text(version),
        flags=re.M,
    )
    assert len(rows) >= 38
    for step_id, roles, when in rows:
        step = p.step(step_id)
        assert set(step.roles) == {r.strip() for r in roles.split(",")}, step_id
        assert step.when == when.replace(" ", "_"), step_id


def test_every_alert_of_every_builtin_version_has_its_rule_and_typed_parameters() -> None:
    for version in builtin_versions("kyphoplasty"):
        p = builtin_pathway("kyphoplasty", version)
        for alert in p.alerts:
            assert isinstance(alert.bound_params, REGISTRY[alert.rule].params), alert.code


def patient_texts(version: str) -> dict[str, str]:
    """Every text a patient or family may read, by where it lives in the file."""
    p = builtin_pathway("kyphoplasty", version)
    texts = {f"{s.id}.{k}": getattr(s.patient, k) for s in p.steps for k in ("now", "why")}
    texts |= {f"{s.id}.title": s.patient.title for s in p.steps if s.patient.title}
    texts |= {f"phase {ph.id}": ph.patient for ph in p.phases}
    texts["family.running_long_note"] = p.family.running_long_note
    sheet = p.discharge_sheet
    assert sheet is not None
    for key, value in sheet.model_dump().items():
        if value is None or key.endswith("_step"):
            continue
        for i, text in enumerate(value if isinstance(value, list) else [value]):
            texts[f"discharge_sheet.{key}[{i}]"] = text
    return texts


@pytest.mark.parametrize("version", RELEASED)
def test_patient_texts_are_plain_language(version: str) -> None:
    texts = patient_texts(version)
    grades = {key: textstat.flesch_kincaid_grade(text) for key, text in texts.items()}
    assert all(text.strip() for text in texts.values())
    too_hard = {k: g for k, g in grades.items() if g > 8}
    assert too_hard == {}


@pytest.mark.parametrize("version", RELEASED)
def test_patient_texts_cover_what_the_spec_asks(version: str) -> None:
    p = builtin_pathway("kyphoplasty", version)
    text = {s.id: f"{s.patient.now} {s.patient.why}".lower() for s in p.steps}
    assert "half an hour" in text["antibiotic_given"]
    assert "face down" in text["positioned_prone"]
    assert "stitches" in text["dressing_applied"]
    assert "harden" in text["out_of_room"]
    assert "blood pressure" in text["pacu_vitals"]
    assert "drive" in text["transport_confirmed"]
    assert "ride" in text["transport_confirmed"]


def test_2_0_gives_every_step_a_patient_title_and_hides_what_staff_explain() -> None:
    p = builtin_pathway("kyphoplasty", "2.0")
    assert [s.id for s in p.steps if not s.patient.title] == []
    hidden = {s.id for s in p.steps if s.patient.hidden}
    assert hidden == {"complication", "level_abandoned", "admitted", "transferred"}
    staff_titles = {s.title for s in p.steps}
    assert {s.patient.title for s in p.steps} & staff_titles <= {"Blood tests", "Not today"}


def test_2_0_patient_texts_claim_no_more_than_the_record_and_use_us_english() -> None:
    texts = patient_texts("2.0")
    joined = re.sub(r"\{[a-z_]+\}", "", " ".join(texts.values()).lower())
    assert "passed all the checks" not in joined
    assert "no stitches" not in joined
    assert "do not need stitches" not in joined
    for british in ("anaesth", "haemo", "centre", "colour", "labelled", "cancelled"):
        assert british not in joined, british
    sheet = builtin_pathway("kyphoplasty", "2.0").discharge_sheet
    assert sheet is not None
    assert "100.4 °F (38.0 °C)" in " ".join(sheet.call_if)
    assert sheet.call_centre is not None
    assert "{phone}" in sheet.call_centre
    assert sheet.call_step == "follow_up_call"


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


def test_a_limit_of_nan_or_infinity_is_refused() -> None:
    """A reading never compares below NaN: such a check would never alert, silently."""
    problems = problems_of(edited("{field: spo2, lt: 92,", "{field: spo2, lt: .nan,"))
    assert len(problems) == 1
    assert problems[0].endswith("Input should be a finite number")
    problems = problems_of(
        edited("heart_rate: {type: number, min: 20", "heart_rate: {type: number, min: -.inf")
    )
    assert problems == [
        "steps[1] (preop_vitals).fields.heart_rate.min: Input should be a finite number"
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
