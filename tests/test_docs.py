"""The docs keep up with the code: every step, alert code and setting is documented."""

from __future__ import annotations

from pathlib import Path

from daycase.cli.render import pathway_markdown
from daycase.config import Settings
from daycase.pathways.loader import builtin_pathway

ROOT = Path(__file__).resolve().parents[1]


def docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md")))


def test_the_pathway_reference_is_current() -> None:
    generated = pathway_markdown(builtin_pathway("kyphoplasty"))
    assert (ROOT / "docs" / "kyphoplasty.md").read_text(encoding="utf-8") == generated


def test_every_step_and_alert_code_is_documented() -> None:
    text = docs_text()
    p = builtin_pathway("kyphoplasty")
    missing = [s.id for s in p.steps if f"`{s.id}`" not in text]
    missing += [a.code for a in p.alerts if f"`{a.code}`" not in text]
    assert missing == []


def test_every_alert_rule_is_documented() -> None:
    text = (ROOT / "docs" / "pathway-files.md").read_text(encoding="utf-8")
    p = builtin_pathway("kyphoplasty")
    assert [a.rule for a in p.alerts if f"`{a.rule}`" not in text] == []


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert f"`DAYCASE_{name.upper()}`" in text, name
        assert field.description, name
        assert field.description in text, name
