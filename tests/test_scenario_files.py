"""Every scenario in tests/scenarios passes through `daycase scenario run --json`, and
together they touch every gate, alert code and refusal kind of the pathway."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from daycase.engine.load import builtin_pathway, builtin_versions
from daycase.pathways.diff import diff

HERE = Path(__file__).resolve().parent
SCENARIOS = sorted((HERE / "scenarios").glob("*.yaml"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daycase", "scenario", "run", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_scenario_passes() -> None:
    assert SCENARIOS, "no scenario files"
    out = run(*map(str, SCENARIOS), "--json")
    results = [json.loads(line) for line in out.stdout.splitlines()]
    failed = {r["file"]: r.get("error") or r["failures"] for r in results if not r["ok"]}
    assert failed == {}
    assert out.returncode == 0
    assert len(results) == len(SCENARIOS)
    for r in results:
        final = r["final"]
        assert set(final) == {"phase", "steps", "alerts", "family_status", "events"}
        for alert in final["alerts"]:
            assert set(alert) == {
                "code",
                "severity",
                "step",
                "active",
                "message",
                "started_at",
                "ended_at",
            }


def actions(version: str) -> list[dict[str, Any]]:
    """Every action of the scenarios pinned to a version (unpinned ones run the latest)."""
    latest = builtin_versions("kyphoplasty")[-1]
    found: list[dict[str, Any]] = []
    for path in SCENARIOS:
        scenario = yaml.safe_load(path.read_text(encoding="utf-8"))
        if scenario.get("pathway_version", latest) == version:
            found += scenario["actions"]
    return found


@pytest.mark.parametrize("version", builtin_versions("kyphoplasty"))
def test_scenarios_cover_every_alert_both_ways(version: str) -> None:
    codes = {a.code for a in builtin_pathway("kyphoplasty", version).alerts}
    acts = actions(version)
    raised = {c for a in acts if "expect" in a for c in a["expect"].get("alerts", [])}
    cleared = {c for a in acts if "expect" in a for c in a["expect"].get("no_alerts", [])}
    assert codes - raised == set()
    assert codes - cleared == set()


@pytest.mark.parametrize("version", builtin_versions("kyphoplasty"))
def test_scenarios_cover_every_refusal_kind_and_gate(version: str) -> None:
    """Every gate of the first version; of a later one, every gate it added or changed."""
    acts = actions(version)
    refused = {a.get("expect_refused") for a in acts} - {None}
    assert refused == {"gate", "role", "invalid", "duplicate", "closed"}
    versions = builtin_versions("kyphoplasty")
    pathway = builtin_pathway("kyphoplasty", version)
    if version == versions[0]:
        gated = {s.id for s in pathway.steps if s.gate}
    else:
        before = builtin_pathway("kyphoplasty", versions[versions.index(version) - 1])
        gated = {c.key for c in diff(before, pathway) if c.section == "gates" and c.after}
    refused_steps = {a.get("record") for a in acts if a.get("expect_refused") == "gate"}
    assert gated - refused_steps == set()


def test_a_second_pathway_runs_through_the_same_runner() -> None:
    out = run(
        str(HERE / "pathways" / "vertebroplasty_day.yaml"),
        "--pathway",
        str(HERE / "pathways" / "vertebroplasty.yaml"),
        "--json",
    )
    result = json.loads(out.stdout)
    assert result["ok"], result
    assert "balloon_inflated" not in result["final"]["steps"]


@pytest.mark.parametrize("broken", ["not: [valid", "pathway: kyphoplasty\n"])
def test_broken_files_exit_2(tmp_path: Path, broken: str) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text(broken, encoding="utf-8")
    out = run(str(bad))
    assert out.returncode == 2
    assert str(bad) in out.stdout
