"""Rich renderings for the terminal: pathways, scenario reports, the board (CLI room)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from daycase.pathways.diff import SECTIONS, Change
from daycase.pathways.schema import AlertRule, Condition, FieldSpec, Pathway
from daycase.scenarios.runner import ScenarioResult
from daycase.services.board import BoardRow
from daycase.store.accounts import UserRow

SEVERITY_STYLE = {"critical": "bold white on red", "warning": "black on yellow", "info": "cyan"}


def safe_url(url: str) -> str:
    """A database URL without its password, for printing."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


def _condition(c: Condition) -> str:
    value = getattr(c, c.kind)
    if isinstance(value, list):
        text = f"{c.kind}: {', '.join(value)}"
    elif isinstance(value, str):
        text = f"{c.kind}: {value}"
    else:
        text = f"{c.kind}: " + ", ".join(
            f"{k}={'/'.join(v) if isinstance(v, list) else v}"
            for k, v in value.model_dump().items()
            if v not in (None, False)
        )
    if not c.overridable:
        text += " (no override lifts it)"
    return text


def pathway(console: Console, p: Pathway) -> None:
    console.print(f"[bold]{p.title}[/] ({p.id} {p.version})")
    console.print("Phases: " + " → ".join(f"{ph.id} ({ph.family.word})" for ph in p.phases))
    table = Table(title="Steps", show_lines=False)
    for col in ("step", "phase", "roles", "when", "need", "fields", "gate"):
        table.add_column(col, overflow="fold")
    for s in p.steps:
        fields = []
        for name, f in s.fields.items():
            bits: list[str] = [f.type]
            if f.min is not None or f.max is not None:
                bits.append(
                    f"{f.min:g} to {f.max:g}" if f.min is not None and f.max is not None else ""
                )
            if f.values:
                bits.append("/".join(f.values))
            if f.must_be is not None:
                bits.append(f"must be {str(f.must_be).lower()}")
            fields.append(f"{name}{'?' if f.optional else ''} ({', '.join(b for b in bits if b)})")
        table.add_row(
            s.id,
            s.phase,
            ", ".join(s.roles),
            s.when,
            s.need,
            "\n".join(fields),
            "\n".join(_condition(c) for c in s.gate) or "—",
        )
    console.print(table)
    alerts = Table(title="Alerts")
    for col in ("code", "severity", "step", "rule", "fires when"):
        alerts.add_column(col, overflow="fold")
    for a in p.alerts:
        alerts.add_row(a.code, a.severity, a.step, a.rule, a.doc)
    console.print(alerts)


def scenario_results(console: Console, results: list[ScenarioResult]) -> None:
    for r in results:
        if r.error:
            console.print(f"[bold red]INVALID[/] {r.error}", highlight=False)
            continue
        status = "[green]PASS[/]" if r.ok else "[red]FAIL[/]"
        final = r.final or {}
        console.print(
            f"{status} {r.file}  (phase {final.get('phase')}, {final.get('events')} events)"
        )
        for f in r.failures:
            console.print(
                f"    action {f.action}: expected {f.expected}; got {f.got}", highlight=False
            )
    passed = sum(r.ok for r in results)
    console.print(f"{passed} passed, {len(results) - passed} failed")


def board(console: Console, rows: list[BoardRow]) -> None:
    table = Table(title="Today's board", show_lines=True)
    for col in ("code", "patient", "levels", "phase", "min", "next due", "active alerts"):
        table.add_column(col, overflow="fold")
    for r in rows:
        alerts = Text()
        for a in r.alerts:
            alerts.append(f" {a.code} ", style=SEVERITY_STYLE.get(a.severity, ""))
            alerts.append(" ")
        if r.override:
            alerts.append(" OVERRIDE ", style="bold magenta")
        table.add_row(
            r.family_code,
            r.patient_name,
            ", ".join(r.levels),
            r.phase_title,
            "" if r.minutes_in_phase is None else str(r.minutes_in_phase),
            ", ".join(r.next_due[:3]) + (" …" if len(r.next_due) > 3 else ""),
            alerts,
        )
    console.print(table)


def _field_text(name: str, f: FieldSpec) -> str:
    bits: list[str] = [f.type]
    if f.min is not None and f.max is not None:
        bits.append(f"{f.min:g} to {f.max:g}{' ' + f.unit if f.unit else ''}")
    if f.values:
        bits.append("/".join(f.values))
    if f.values_from:
        bits.append(f"an id of the {f.values_from} table")
    if f.not_after_entry:
        bits.append("not after the entry")
    if f.must_be is not None:
        bits.append(f"must be {str(f.must_be).lower()}")
    if f.less_than_field:
        bits.append(f"below {f.less_than_field}")
    if f.items is not None:
        bits.append(f"of {f.items.type}")
    if f.fields:
        bits.append("of {" + ", ".join(_field_text(n, sub) for n, sub in f.fields.items()) + "}")
    return f"`{name}`{'?' if f.optional else ''} ({', '.join(bits)})"


def pathway_markdown(p: Pathway) -> str:
    """The pathway as a Markdown reference (docs/kyphoplasty-<version>.md are this output)."""
    out = [
        f"# {p.title}",
        "",
        f"Pathway `{p.id}` version {p.version}. Generated by",
        f"`daycase pathway show {p.ref} --markdown`; a test fails when this file and the",
        "pathway disagree.",
        "",
        f"Definition digest (SHA-256 of the canonical definition): `{p.digest}`.",
        "",
        "## Phases",
        "",
        "| phase | opened by | family status | colour |",
        "| --- | --- | --- | --- |",
    ]
    for ph in p.phases:
        openers = ", ".join(f"`{s}`" for s in ph.opened_by) or "—"
        out.append(f"| `{ph.id}` | {openers} | {ph.family.word} | {ph.family.colour} |")
    out += [
        "",
        "## Steps",
        "",
        "| step | roles | when | need | fields | gate |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for s in p.steps:
        fields = [_field_text(n, f) for n, f in s.fields.items()]
        fields += [
            f"{', '.join(r.fields)} required when {r.when} is "
            f"{'/'.join(str(v).lower() for v in r.in_)}, else left out"
            for r in s.conditional_fields
        ]
        if s.at_within:
            fields.append(f"at most {s.at_within.max_days:g} days after {s.at_within.after_step}")
        gate = "<br>".join(_condition(c) for c in s.gate) or "—"
        roles = ", ".join(s.roles)
        need = f"{s.need}, aftercare" if s.aftercare else s.need
        out.append(
            f"| `{s.id}` {s.title} | {roles} | {s.when} | {need} | "
            f"{'<br>'.join(fields) or '—'} | {gate} |"
        )
    out += [
        "",
        "## Alerts",
        "",
        "| code | severity | step | rule | fires when |",
        "| --- | --- | --- | --- | --- |",
    ]
    out += [
        f"| `{a.code}` | {a.severity} | `{a.step}` | `{a.rule}` | {_alert_doc(a)} |"
        for a in p.alerts
    ]
    out += _medicines_markdown(p)
    out += ["", "## Patient texts", ""]
    for s in p.steps:
        title = f" ({s.patient.title})" if s.patient.title else ""
        hidden = " Never shown to a patient." if s.patient.hidden else ""
        out.append(f"- **`{s.id}`**{title}:{hidden} {s.patient.now} {s.patient.why}")
    return "\n".join(out) + "\n"


def _alert_doc(a: AlertRule) -> str:
    notes = []
    if a.ends_at:
        notes.append(f"ends at `{a.ends_at}`")
    if a.aftercare:
        notes.append("after the patient went home")
    return a.doc + (f" ({'; '.join(notes)})" if notes else "")


def _medicines_markdown(p: Pathway) -> list[str]:
    m = p.medicines
    if not (m.antithrombotics or m.drug_classes or m.materials):
        return []
    out = ["", "## Medicine tables", ""]
    if m.antithrombotics:
        out += ["| blood thinner | hold before the scheduled start |", "| --- | --- |"]
        out += [
            f"| `{d.id}` | {'confirm the plan' if d.hold_h is None else f'{d.hold_h:g} h'} |"
            for d in m.antithrombotics
        ]
        out.append("")
    if m.drug_classes:
        out += ["| drug class | names |", "| --- | --- |"]
        out += [f"| `{c.id}` | {', '.join(c.names)} |" for c in m.drug_classes]
        out.append("")
    if m.materials:
        out += ["| procedure material | names |", "| --- | --- |"]
        out += [f"| {x.title} | {', '.join(x.names)} |" for x in m.materials]
    return out


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested value as `key.path → scalar or list` pairs, to say what changed inside it."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for k, v in value.items():
            flat.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return flat
    return {prefix: value}


def _said(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_said(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_said(v)}" for k, v in value.items()) + "}"
    return "—" if value is None else str(value)


def _gate_lines(gate: Any) -> list[str]:
    return [_said(c) for c in gate or []]


def diff_markdown(old: Pathway, new: Pathway, changes: list[Change]) -> str:
    """`daycase pathway diff` as Markdown: each section's additions, removals, changes."""
    out = [f"# {old.ref} → {new.ref}", ""]
    if not changes:
        return "\n".join([*out, "No differences.", ""])
    for section in SECTIONS:
        mine = [c for c in changes if c.section == section]
        if not mine:
            continue
        out += [f"## {section.capitalize()}", ""]
        for c in mine:
            if section == "gates":
                was, now = _gate_lines(c.before), _gate_lines(c.after)
                gone = [f"  - removed: {line}" for line in was if line not in now]
                came = [f"  - added: {line}" for line in now if line not in was]
                out += [f"- `{c.key}` gate {c.kind}:", *gone, *came]
            elif c.kind == "changed":
                before, after = _flat(c.before), _flat(c.after)
                keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
                what = "; ".join(
                    f"{k or 'value'}: {_said(before.get(k))} → {_said(after.get(k))}" for k in keys
                )
                out.append(f"- changed `{c.key}`: {what}")
            else:
                value = c.after if c.kind == "added" else c.before
                out.append(f"- {c.kind} `{c.key}`: {_said(value)}")
        out.append("")
    return "\n".join(out)


def users(console: Console, rows: list[UserRow]) -> None:
    table = Table(title="Users")
    for col in ("name", "role", "state", "created"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.name, r.role, "disabled" if r.disabled else "active", r.created_at[:16])
    console.print(table)


def demo_users(console: Console, rows: list[tuple[str, str, str]]) -> None:
    table = Table(title="Demo users (passwords are new each time --demo runs)")
    for col in ("name", "role", "password"):
        table.add_column(col)
    for name, role, password in rows:
        table.add_row(name, role, password)
    console.print(table)
