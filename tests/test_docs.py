"""The docs keep up with the code: every step, alert code and setting is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from daycase.cli.render import pathway_markdown
from daycase.config import Settings
from daycase.engine.load import builtin_pathway, builtin_versions
from daycase.engine.rules import REGISTRY

ROOT = Path(__file__).resolve().parents[1]


def docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md")))


@pytest.mark.parametrize("version", builtin_versions("kyphoplasty"))
def test_the_pathway_reference_of_every_version_is_current(version: str) -> None:
    generated = pathway_markdown(builtin_pathway("kyphoplasty", version))
    doc = ROOT / "docs" / f"kyphoplasty-{version}.md"
    assert doc.read_text(encoding="utf-8") == generated


def test_every_step_and_alert_code_of_every_version_is_documented() -> None:
    text = docs_text()
    missing: list[str] = []
    for version in builtin_versions("kyphoplasty"):
        p = builtin_pathway("kyphoplasty", version)
        missing += [s.id for s in p.steps if f"`{s.id}`" not in text]
        missing += [a.code for a in p.alerts if f"`{a.code}`" not in text]
    assert missing == []


def test_every_registered_rule_is_documented() -> None:
    text = (ROOT / "docs" / "pathway-files.md").read_text(encoding="utf-8")
    assert [rule for rule in REGISTRY if f"`{rule}`" not in text] == []


def test_the_project_stands_alone() -> None:
    """Nothing the project ships or documents points outside the checkout, and it says
    its licence: Apache-2.0, with the licence text beside it."""
    outside = "../" + "shared"
    shipped = [ROOT / "README.md", ROOT / "pyproject.toml", *(ROOT / "docs").glob("*.md")]
    shipped += [p for p in (ROOT / "src").rglob("*") if p.suffix in {".py", ".yaml", ".html"}]
    shipped += list((ROOT / "tests" / "scenarios").glob("*"))
    assert [str(p) for p in shipped if outside in p.read_text(encoding="utf-8")] == []
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in licence
    assert "Version 2.0, January 2004" in licence


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert f"`DAYCASE_{name.upper()}`" in text, name
        assert field.description, name
        assert field.description in text, name


def test_every_report_measure_is_defined_in_the_docs_as_the_code_says() -> None:
    from daycase.reports.measures import MEASURES

    text = (ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    missing = [
        d.id for d in MEASURES.values() if f"| `{d.id}` | {d.title} | {d.definition} |" not in text
    ]
    assert missing == []
