"""Run scenario files against a fresh in-memory store through the service layer (scenario room).

Same validation, gates, permissions and rules as the API: the runner only plays the
clock (each action's `at` is the server time) and the users (one per role).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from daycase.engine.commands import Actor, AmendEvent, OpenCase, RecordStep, Refusal, VoidEvent
from daycase.engine.evaluate import Evaluation
from daycase.engine.fold import CaseState
from daycase.engine.load import PathwayError, load_pathway
from daycase.pathways.schema import Pathway
from daycase.scenarios.schema import Action, Expect, Scenario
from daycase.services.cases import CaseService
from daycase.services.catalog import PathwayCatalog, UnknownPathway
from daycase.services.views import final_json
from daycase.sim.day import ScriptClock
from daycase.store.memory import MemoryEventStore
from daycase.types import JSONObject


class ScenarioError(Exception):
    """The file itself is unusable (exit 2): bad YAML, unknown key, step, role or code."""


@dataclass(slots=True)
class Failure:
    action: int
    expected: str
    got: str


@dataclass(slots=True)
class ScenarioResult:
    file: str
    failures: list[Failure] = field(default_factory=list)
    final: JSONObject | None = None
    error: str | None = None
    # The case as the scenario left it, and the pathway it ran on (for an export of it).
    state: CaseState | None = field(default=None, repr=False, compare=False)
    pathway: Pathway | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failures

    def to_json(self) -> JSONObject:
        out: JSONObject = {
            "file": self.file,
            "ok": self.ok,
            "failures": [
                {"action": f.action, "expected": f.expected, "got": f.got} for f in self.failures
            ],
            "final": self.final,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


def load_scenario(
    path: str | Path, *, catalog: PathwayCatalog, pathway_override: str | None
) -> tuple[Scenario, Pathway]:
    """Parse and check a scenario file; every problem names the file and action index."""
    name = str(path)
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{name}: cannot read file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{name}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ScenarioError(f"{name}: a scenario must be a mapping with case and actions")
    _reject_naive_times(name, raw)
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(
            "\n".join(f"{name}: {_where(e['loc'])}{_msg(e)}" for e in exc.errors())
        ) from exc
    pathway_id = pathway_override or scenario.pathway
    if pathway_id is None:
        raise ScenarioError(f"{name}: no pathway: give `pathway:` or --pathway")
    version = scenario.pathway_version
    try:
        pathway = catalog.get(pathway_id, version)
    except UnknownPathway as exc:
        if exc.version is None:
            raise ScenarioError(f"{name}: pathway: unknown pathway {pathway_id!r}") from exc
        known = ", ".join(catalog.versions(pathway_id))
        raise ScenarioError(
            f"{name}: pathway_version: {pathway_id} has no version {version!r} (known: {known})"
        ) from exc
    problems = _check_names(scenario, pathway)
    if problems:
        raise ScenarioError("\n".join(f"{name}: {p}" for p in problems))
    return scenario, pathway


def _where(loc: tuple[Any, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "actions" and isinstance(loc[1], int):
        rest = ".".join(str(x) for x in loc[2:])
        return f"action {loc[1]}: " + (f"{rest}: " if rest else "")
    return ".".join(str(x) for x in loc) + ": " if loc else ""


def _msg(err: Any) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "timezone_aware":
        return "time needs a timezone (e.g. 2026-11-26T08:00:00-05:00)"
    return msg


def _reject_naive_times(name: str, raw: dict[str, Any]) -> None:
    """Every time in the file, `data` included, must carry a timezone."""

    def walk(node: Any, where: str) -> None:
        if isinstance(node, datetime) and node.tzinfo is None:
            raise ScenarioError(
                f"{name}: {where}: time needs a timezone (e.g. 2026-11-26T08:00:00-05:00)"
            )
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{where}.{k}" if where else str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk({k: v for k, v in raw.items() if k != "actions"}, "")
    for i, action in enumerate(raw.get("actions") or []):
        if isinstance(action, dict):
            for key, value in action.items():
                walk(value, f"action {i}: {key}")


def _check_names(s: Scenario, pathway: Pathway) -> list[str]:
    problems: list[str] = []
    roles = pathway.role_ids
    phases = {p.id for p in pathway.phases}
    last: datetime | None = None
    for i, a in enumerate(s.actions):
        where = f"action {i}"
        if last is not None and a.at < last:
            problems.append(f"{where}: at {a.at.isoformat()} is earlier than the action before")
        last = a.at
        if a.as_ is not None and a.as_ not in roles:
            problems.append(f"{where}: as: unknown role {a.as_!r}")
        if a.record is not None and not pathway.has_step(a.record):
            problems.append(f"{where}: record: unknown step {a.record!r}")
        for key in ("amend", "void"):
            target = getattr(a, key)
            if target is not None and not (
                0 <= target < i and s.actions[target].record is not None
            ):
                problems.append(f"{where}: {key}: {target} is not an earlier record action")
        if a.expect is not None:
            problems += [f"{where}: expect: {p}" for p in _check_expect(a.expect, pathway, phases)]
    if s.now is not None and last is not None and s.now < last:
        problems.append("now: earlier than the last action")
    return problems


def _check_expect(e: Expect, pathway: Pathway, phases: set[str]) -> list[str]:
    problems = [f"phase: unknown phase {e.phase!r}"] if e.phase and e.phase not in phases else []
    for key in ("alerts", "no_alerts"):
        problems += [
            f"{key}: unknown alert code {c!r}" for c in getattr(e, key) if not pathway.has_alert(c)
        ]
    for status, steps in e.statuses().items():
        problems += [f"{status}: unknown step {s!r}" for s in steps if not pathway.has_step(s)]
    return problems


def run_file(path: str | Path, *, pathway_path: str | None = None) -> ScenarioResult:
    """Run one file; a file error becomes `error` on the result, never an exception."""
    name = str(path)
    override: str | None = None
    catalog = PathwayCatalog()
    if pathway_path:
        try:
            custom = load_pathway(pathway_path)
        except PathwayError as exc:
            return ScenarioResult(file=name, error=str(exc))
        catalog, override = PathwayCatalog([custom]), custom.id
    try:
        scenario, pathway = load_scenario(path, catalog=catalog, pathway_override=override)
        return _run(name, scenario, pathway, catalog)
    except ScenarioError as exc:
        return ScenarioResult(file=name, error=str(exc))


def _run(name: str, s: Scenario, pathway: Pathway, catalog: PathwayCatalog) -> ScenarioResult:
    result = ScenarioResult(file=name)
    first_at = s.actions[0].at if s.actions else s.case.scheduled_start
    clock = ScriptClock(min(first_at, s.case.scheduled_start))
    service = CaseService(MemoryEventStore(), catalog=catalog, clock=clock)
    opened = service.open_case(
        OpenCase(
            actor=Actor("scenario", "admin"),
            pathway_id=pathway.id,
            pathway_version=pathway.version,
            mrn=s.case.patient.mrn,
            given_name=s.case.patient.given_name,
            family_name=s.case.patient.family_name,
            birth_date=s.case.patient.birth_date,
            sex=s.case.patient.sex,
            levels=list(s.case.levels),
            scheduled_start=s.case.scheduled_start,
        )
    )
    if isinstance(opened, Refusal):
        raise ScenarioError(f"{name}: case: {'; '.join(opened.messages)}")
    case_id = opened.case_id
    event_ids: dict[int, str | None] = {}
    for i, action in enumerate(s.actions):
        clock.now = action.at
        if action.expect is not None:
            _, ev = service.evaluate(case_id, now=action.at)
            result.failures += [Failure(i, exp, got) for exp, got in compare(action.expect, ev)]
            continue
        outcome = _act(service, case_id, action, event_ids)
        if action.record is not None:
            event_ids[i] = outcome if isinstance(outcome, str) else None
        refused = outcome.kind if isinstance(outcome, Refusal) else None
        if refused != action.expect_refused:
            expected = f"refused: {action.expect_refused}" if action.expect_refused else "accepted"
            got = (
                f"refused: {refused}: {'; '.join(outcome.messages)}"
                if isinstance(outcome, Refusal)
                else "accepted"
            )
            result.failures.append(Failure(i, expected, got))
    end = s.now or (s.actions[-1].at if s.actions else s.case.scheduled_start)
    state, ev = service.evaluate(case_id, now=end)
    result.final = final_json(ev, events=len(state.history))
    result.state, result.pathway = state, pathway
    return result


def _act(
    service: CaseService, case_id: str, a: Action, event_ids: dict[int, str | None]
) -> str | Refusal:
    assert a.as_ is not None
    actor = Actor(a.as_, a.as_)
    if a.record is not None:
        cmd = RecordStep(
            actor=actor,
            step=a.record,
            at=a.occurred_at or a.at,
            data=a.data or {},
            override_reason=a.override_reason,
        )
        out = service.record(case_id, cmd)
        return out if isinstance(out, Refusal) else out.event_id
    target_index = a.amend if a.amend is not None else a.void
    assert target_index is not None
    target = event_ids.get(target_index)
    if target is None:
        return Refusal(
            "invalid", (f"action {target_index} was refused, so there is nothing to correct",)
        )
    if a.amend is not None:
        amended = service.amend(
            case_id,
            AmendEvent(
                actor=actor,
                target_event_id=target,
                reason=a.reason or "",
                at=a.corrected_at,
                data=a.data,
                override_reason=a.override_reason,
            ),
        )
        return amended if isinstance(amended, Refusal) else amended.event_id
    voided = service.void(
        case_id, VoidEvent(actor=actor, target_event_id=target, reason=a.reason or "")
    )
    return voided if isinstance(voided, Refusal) else voided.event_id


def compare(e: Expect, ev: Evaluation) -> list[tuple[str, str]]:
    """(expected, got) for every expectation that does not hold."""
    out: list[tuple[str, str]] = []
    if e.phase is not None and e.phase != ev.phase:
        out.append((f"phase {e.phase}", f"phase {ev.phase}"))
    if e.family_status is not None and e.family_status != ev.family_word:
        out.append((f"family_status {e.family_status}", f"family_status {ev.family_word}"))
    active = sorted({a.code for a in ev.alerts if a.active})
    for code in e.alerts:
        if code not in active:
            out.append((f"alert {code} active", f"active alerts: {', '.join(active) or 'none'}"))
    for code in e.no_alerts:
        if code in active:
            msgs = "; ".join(a.message for a in ev.alerts if a.active and a.code == code)
            out.append((f"alert {code} not active", f"{code} active: {msgs}"))
    for status, steps in e.statuses().items():
        for step in steps:
            if ev.steps[step] != status:
                out.append((f"{step} {status}", f"{step} {ev.steps[step]}"))
    return out


def run_files(paths: list[str], *, pathway_path: str | None = None) -> list[ScenarioResult]:
    return [run_file(p, pathway_path=pathway_path) for p in paths]


def exit_code(results: list[ScenarioResult]) -> int:
    if any(r.error for r in results):
        return 2
    return 0 if all(r.ok for r in results) else 1
