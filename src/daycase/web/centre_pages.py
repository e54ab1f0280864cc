"""The centre manager's set-up page: rooms, bays, opening hours, targets, reasons (web room).

The lists are edited as text, one item per line with its parts split by `|` (the page
shows the set-up in force that way), so a manager can add, rename, reorder or remove
rooms in one go. Nothing is stored while any line is wrong; each problem names the list,
the line and the field. A change is a new version with who made it and why, written to
the audit log; a form made from an older version than the stored one is refused.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from daycase.api.deps import RuntimeDep
from daycase.services.accounts import User
from daycase.services.centre_setup import (
    CentreSetup,
    SetupConflict,
    SetupRefused,
    parse_setup,
)
from daycase.services.runtime import Runtime
from daycase.web.admin_pages import AdminPage
from daycase.web.common import checked_form, form_text, render

router = APIRouter(include_in_schema=False)

KIND_WORDS = {"procedure_room": "procedure room", "ir_suite": "IR suite"}
# The lists of the form: field name, heading, parts of a line.
LISTS = {
    "rooms": ("Rooms", ("id", "name", "kind", "hours")),
    "preop_bays": ("Pre-op bays", ("id", "name")),
    "recovery_bays": ("Recovery bays", ("id", "name")),
    "delay_reasons": ("Delay reasons", ("code", "label")),
    "cancellation_reasons": ("Cancellation reasons", ("code", "label")),
}


def as_text(setup: CentreSetup) -> dict[str, str]:
    """The set-up's lists as the form shows them, one item per line."""
    rooms = [
        f"{r.id} | {r.name} | {KIND_WORDS[r.kind]} | {r.opens:%H:%M}-{r.closes:%H:%M}"
        for r in setup.rooms
    ]
    return {
        "rooms": "\n".join(rooms),
        "preop_bays": "\n".join(f"{b.id} | {b.name}" for b in setup.preop_bays),
        "recovery_bays": "\n".join(f"{b.id} | {b.name}" for b in setup.recovery_bays),
        "delay_reasons": "\n".join(f"{r.code} | {r.label}" for r in setup.delay_reasons),
        "cancellation_reasons": "\n".join(
            f"{r.code} | {r.label}" for r in setup.cancellation_reasons
        ),
        "turnover_target_min": str(setup.turnover_target_min),
        "first_case_grace_min": str(setup.first_case_grace_min),
    }


def from_text(texts: dict[str, str]) -> CentreSetup:
    """The set-up a filled-in form describes; `SetupRefused` naming each wrong line."""
    problems: list[str] = []
    data: dict[str, Any] = {}
    line_of: dict[tuple[str, int], int] = {}  # (list, item number) -> line in the box
    for field, (heading, parts) in LISTS.items():
        items: list[dict[str, str]] = []
        for number, line in enumerate(texts.get(field, "").splitlines(), start=1):
            if not line.strip():
                continue
            values = [v.strip() for v in line.split("|")]
            if len(values) != len(parts):
                problems.append(
                    f"{heading}, line {number}: write {len(parts)} parts split by | "
                    f"({', '.join(parts)})"
                )
                continue
            item = dict(zip(parts, values, strict=True))
            if field == "rooms":
                item = _room(item, heading, number, problems)
            items.append(item)
            line_of[field, len(items)] = number
        data[field] = items
    for field in ("turnover_target_min", "first_case_grace_min"):
        data[field] = texts.get(field, "").strip()
    if problems:
        raise SetupRefused(problems)
    try:
        return parse_setup(data)
    except SetupRefused as exc:
        raise SetupRefused([_worded(p, line_of) for p in exc.problems]) from exc


def _room(item: dict[str, str], heading: str, number: int, problems: list[str]) -> dict[str, str]:
    kinds = {word.lower(): kind for kind, word in KIND_WORDS.items()}
    kind = kinds.get(item["kind"].lower())
    if kind is None:
        problems.append(f"{heading}, line {number}: the kind is procedure room or IR suite")
    hours = re.fullmatch(r"(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})", item["hours"])
    if hours is None:
        problems.append(f"{heading}, line {number}: write the hours as 07:00-17:30")
    opens, closes = (hours.group(1).zfill(5), hours.group(2).zfill(5)) if hours else ("", "")
    return {
        "id": item["id"],
        "name": item["name"],
        "kind": kind or "",
        "opens": opens,
        "closes": closes,
    }


def _worded(problem: str, line_of: dict[tuple[str, int], int]) -> str:
    """`rooms[2].name: …` as the form says it: `Rooms, line 3: name: …` (blank lines
    count as lines of the box)."""
    found = re.match(r"(\w+)\[(\d+)\](?:\.(\w+))?: (.*)", problem)
    if found and found.group(1) in LISTS:
        heading = LISTS[found.group(1)][0]
        line = line_of.get((found.group(1), int(found.group(2))), int(found.group(2)))
        field = f"{found.group(3)}: " if found.group(3) else ""
        return f"{heading}, line {line}: {field}{found.group(4)}"
    words = {
        "turnover_target_min": "Turnover target (minutes)",
        "first_case_grace_min": "First-case grace (minutes)",
    }
    for name, label in words.items():
        problem = problem.replace(name, label)
    return problem


def _page(
    request: Request,
    runtime: Runtime,
    user: User,
    *,
    status: int = 200,
    texts: dict[str, str] | None = None,
    problems: list[str] | None = None,
    expected: int | None = None,
    note: str = "",
    saved: int | None = None,
) -> HTMLResponse:
    current = runtime.setup.current()
    return render(
        request,
        runtime,
        "centre.html",
        status,
        user=user,
        current=current,
        history=runtime.setup.history()[:10],
        texts=texts or as_text(current.setup),
        lists=LISTS,
        kind_words=KIND_WORDS,
        problems=problems or [],
        expected=current.version if expected is None else expected,
        note=note,
        saved=saved,
    )


@router.get("/admin/centre", response_class=HTMLResponse)
def centre_page(
    request: Request, runtime: RuntimeDep, user: AdminPage, saved: int | None = None
) -> Response:
    return _page(request, runtime, user, saved=saved)


@router.post("/admin/centre", response_class=HTMLResponse)
async def change_centre(request: Request, runtime: RuntimeDep, user: AdminPage) -> Response:
    form = await checked_form(request)
    fields = [*LISTS, "turnover_target_min", "first_case_grace_min"]
    texts = {name: form_text(form, name) for name in fields}
    note = form_text(form, "note")
    expected_text = form_text(form, "expected_version")
    expected = int(expected_text) if expected_text.isdigit() else -1
    try:
        setup = from_text(texts)
        stored = runtime.change_setup(setup, by=user, expected_version=expected, note=note)
    except SetupRefused as exc:
        return _page(
            request,
            runtime,
            user,
            status=422,
            texts=texts,
            problems=exc.problems,
            expected=expected,
            note=note,
        )
    except SetupConflict as exc:
        return _page(
            request,
            runtime,
            user,
            status=409,
            texts=texts,
            problems=[str(exc)],
            expected=expected,
            note=note,
        )
    return RedirectResponse(f"/admin/centre?saved={stored.version}", status_code=303)
