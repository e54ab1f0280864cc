"""Rich renderings for the terminal: pathways, scenario reports, the board (CLI room)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from daycase.pathways.schema import Condition, FieldSpec, Pathway
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
            f"{k}={v}" for k, v in value.model_dump().items() if v not in (None, False)
        )
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
    """The pathway as a Markdown reference (docs/kyphoplasty.md is this output)."""
    out = [
        f"# {p.title}",
        "",
        f"Pathway `{p.id}` version {p.version}. Generated by",
        f"`daycase pathway show {p.id} --markdown`; a test fails when this file and the pathway",
        "disagree.",
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
        fields = "<br>".join(_field_text(n, f) for n, f in s.fields.items()) or "—"
        gate = "<br>".join(_condition(c) for c in s.gate) or "—"
        roles = ", ".join(s.roles)
        out.append(f"| `{s.id}` {s.title} | {roles} | {s.when} | {s.need} | {fields} | {gate} |")
    out += [
        "",
        "## Alerts",
        "",
        "| code | severity | step | rule | fires when |",
        "| --- | --- | --- | --- | --- |",
    ]
    out += [f"| `{a.code}` | {a.severity} | `{a.step}` | `{a.rule}` | {a.doc} |" for a in p.alerts]
    out += ["", "## Patient texts", ""]
    out += [f"- **`{s.id}`**: {s.patient.now} {s.patient.why}" for s in p.steps]
    return "\n".join(out) + "\n"


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
