"""Who reads what: the read matrix, one rule for the API, the pages and the stream (service room).

"Minimum necessary": each role reads what its work needs. Clinical staff (nurse,
anesthesia, proceduralist: the clinical roles of the pathways that are not desk roles)
read the whole record. The front desk (`DAYCASE_DESK_ROLES`) and the centre's admins
read the schedule and the patients' details, a case's phase, and the steps they record
themselves (check-in, a cancellation), with their entries and corrections; not alerts,
other steps' entries, the next-day calls or the patient view. Admins also read the audit
log. Any other role (a waiting-room screen) reads the family board only. The table is in
docs/security.md; the API, the pages and the live stream all ask a `Reader` built here.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from daycase.engine.events import (
    CaseOpened,
    CaseRescheduled,
    Event,
    EventAmended,
    EventVoided,
    StepRecorded,
)
from daycase.pathways.schema import Pathway
from daycase.services.board import BoardRow
from daycase.services.centre import Centre
from daycase.types import JSON, JSONObject

if TYPE_CHECKING:
    from daycase.services.accounts import User
    from daycase.services.runtime import Runtime

ReadLevel = Literal["clinical", "desk", "family"]
# What a desk reader is not shown, named in the answers so that an empty list is never
# read as "no alerts".
DESK_WITHHELD = ("alerts", "other_steps")


@dataclass(frozen=True, slots=True)
class Reader:
    """What one role may read."""

    role: str
    level: ReadLevel
    # Titles of the steps this role records in any pathway the centre knows: a board row
    # names its next steps by title.
    own_titles: frozenset[str]

    @property
    def clinical(self) -> bool:
        """The whole clinical record: alerts, every step's entries, calls, patient view."""
        return self.level == "clinical"

    @property
    def staff(self) -> bool:
        """The staff board, the day's cases and the patients' details."""
        return self.level in ("clinical", "desk")

    @property
    def withheld(self) -> list[str]:
        return [] if self.clinical else list(DESK_WITHHELD)

    def reads_step(self, pathway: Pathway, step_id: str) -> bool:
        """Every step for clinical staff; for the desk, the steps its role records."""
        if self.clinical:
            return True
        return pathway.has_step(step_id) and self.role in pathway.step(step_id).roles

    def board_row(self, row: BoardRow) -> BoardRow:
        """A board row as this reader may see it."""
        if self.clinical:
            return row
        return dataclasses.replace(
            row,
            alerts=[],
            override=False,
            next_due=[t for t in row.next_due if t in self.own_titles],
        )

    def board_json(self, row: Mapping[str, object]) -> JSONObject:
        """The same for a board row already in its JSON shape (the live stream's)."""
        shown: JSONObject = dict(row)  # type: ignore[arg-type]
        if self.clinical:
            return shown
        due = row.get("next_due")
        shown.update(
            alerts=[],
            override=False,
            next_due=[t for t in due if t in self.own_titles] if isinstance(due, list) else [],
            withheld=list[JSON](self.withheld),
        )
        return shown

    def case_json(self, pathway: Pathway, case: Mapping[str, object]) -> JSONObject:
        """A case in the API's `CaseOut` shape (`final_json` and the patient) as this reader
        may see it: the steps it records, no alerts, and what was left out."""
        shown: JSONObject = dict(case)  # type: ignore[arg-type]
        if self.clinical:
            return shown
        statuses = case.get("steps")
        steps = statuses if isinstance(statuses, Mapping) else {}
        shown.update(
            steps={s: str(v) for s, v in steps.items() if self.reads_step(pathway, str(s))},
            alerts=[],
            withheld=list[JSON](self.withheld),
        )
        return shown

    def history(self, pathway: Pathway, events: Iterable[Event]) -> list[Event]:
        """The events this reader may read: the booking (opening and moves), and every
        entry of a step it reads with the corrections of that entry."""
        events = list(events)
        if self.clinical:
            return events
        shown_entries = {
            e.event_id
            for e in events
            if isinstance(e, StepRecorded) and self.reads_step(pathway, e.step)
        }
        return [
            e
            for e in events
            if isinstance(e, CaseOpened | CaseRescheduled)
            or e.event_id in shown_entries
            or (isinstance(e, EventAmended | EventVoided) and e.target_event_id in shown_entries)
        ]


def reader_of(runtime: Runtime, user: User) -> Reader:
    """The read matrix's row for a signed-in user of this server."""
    return reader(runtime.centre, runtime.settings.desk_roles, user.role)


def reader(centre: Centre, desk_roles: Iterable[str], role: str) -> Reader:
    """The read matrix's row for a role."""
    return _reader(centre, frozenset(desk_roles), role)


@functools.lru_cache(maxsize=256)
def _reader(centre: Centre, desk: frozenset[str], role: str) -> Reader:
    level: ReadLevel
    if centre.is_admin(role) or (role in desk and centre.is_staff(role)):
        level = "desk"
    elif centre.is_staff(role):
        level = "clinical"
    else:
        level = "family"
    titles = {s.title for p in centre.catalog.all() for s in p.steps if role in s.roles}
    return Reader(role=role, level=level, own_titles=frozenset(titles))
