"""Everything a running daycase needs, built once from settings (service room).

`open_runtime` is called by `create_app` and by CLI commands that touch users; it
opens the store, the services over it, the board read model and the live hub (the
server subscribes the hub to the store's commits when it starts).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from daycase.config import Settings
from daycase.engine.commands import Actor
from daycase.services.accounts import AccountService, User
from daycase.services.board_model import BoardModel
from daycase.services.cases import CaseService, Clock, shifted_clock
from daycase.services.catalog import PathwayCatalog
from daycase.services.centre import Centre, centre_from
from daycase.services.centre_setup import CentreSetup, CentreSetupService, SetupVersion
from daycase.services.displays import DisplayService
from daycase.services.etas import EtaService
from daycase.services.fhir import FhirService
from daycase.services.live import LiveHub
from daycase.services.reports import ReportService
from daycase.services.schedule import Changed, ScheduleService
from daycase.services.schedule_plan import Change
from daycase.services.simulation import eta_model, history
from daycase.services.views import board_row_json, family_row_json
from daycase.store.accounts import SqlAccounts
from daycase.store.audit_writer import close_writer
from daycase.store.centre_setup import SqlCentreSetups
from daycase.store.displays import SqlDisplayLinks
from daycase.store.fhir_bookings import SqlFhirBookings
from daycase.store.report_days import SqlReportDays
from daycase.store.report_facts import SqlReportFacts
from daycase.store.schedule import SqlSchedules
from daycase.store.sql import SqlEventStore, make_engine


@dataclass(slots=True)
class Runtime:
    settings: Settings
    centre: Centre
    store: SqlEventStore
    cases: CaseService
    accounts: AccountService
    hub: LiveHub
    boards: BoardModel
    setup: CentreSetupService
    displays: DisplayService
    schedule: ScheduleService
    reports: ReportService
    fhir: FhirService
    etas: EtaService
    clock: Clock
    tz: ZoneInfo

    def today(self) -> date:
        return self.now().astimezone(self.tz).date()

    def now(self) -> datetime:
        return self.clock()

    def audit_read(
        self, user: User, action: str, case_ids: Sequence[str | None], detail: str = ""
    ) -> None:
        """Who read which case's clinical detail, for the API and the pages alike: one row
        per case shown; a read that showed no case still leaves one row without a case.

        Queued for the audit writer (the read never waits for the write lock); raises
        `AuditUnavailable` when the audit log is not keeping up: refuse the read (503)."""
        self.accounts.accounts.audit_many(
            at=self.now(),
            user_name=user.name,
            role=user.role,
            action=action,
            case_ids=list(case_ids) or [None],
            detail=detail,
        )

    def change_setup(
        self, setup: CentreSetup, *, by: User, expected_version: int, note: str = ""
    ) -> SetupVersion:
        """Store a new version of the centre's set-up and write who changed it to the audit
        log (`SetupConflict` when someone stored a newer version first)."""
        stored = self.setup.change(setup, by=by.name, expected_version=expected_version, note=note)
        self.accounts.accounts.audit(
            at=stored.changed_at,
            user_name=by.name,
            role=by.role,
            action="centre_setup",
            case_id=None,
            detail=f"version {stored.version}" + (f": {note}" if note else ""),
        )
        return stored

    def change_schedule(self, change: Change, *, by: User) -> Changed:
        """Change the day's schedule (`ScheduleRefused` naming what stands in the way),
        write who did it to the audit log and tell open boards."""
        changed = self.schedule.change(change, actor=Actor(name=by.name, role=by.role))
        self.accounts.accounts.audit(
            at=self.now(),
            user_name=by.name,
            role=by.role,
            action="schedule",
            case_id=change.case_id,
            detail=f"{changed.plan.day.isoformat()} version {changed.plan.version}",
        )
        self.hub.notify(change.case_id)
        return changed

    def move_booking(
        self, case_id: str, start: datetime, *, reason: str, by: User, room: str | None = None
    ) -> Changed:
        """Move a booking in time (`ScheduleRefused` naming what stands in the way), write
        who did it to the audit log and tell open boards, the old day's included."""
        changed = self.schedule.move(
            case_id, start, reason=reason, actor=Actor(name=by.name, role=by.role), room=room
        )
        self.accounts.accounts.audit(
            at=self.now(),
            user_name=by.name,
            role=by.role,
            action="schedule",
            case_id=case_id,
            detail=f"moved to {start.isoformat()}; {changed.plan.day.isoformat()} "
            f"version {changed.plan.version}",
        )
        self.hub.notify(case_id)
        return changed

    def render_case(self, case_id: str) -> tuple[str, str] | None:
        """The stream payloads (staff, family) for one changed case."""
        rows = self.boards.case(case_id, now=self.now())
        if rows is None:
            return None
        staff, family = rows
        day = staff.scheduled_start.date().isoformat()
        return (
            json.dumps({"type": "case", "date": day, "row": board_row_json(staff)}),
            json.dumps({"type": "case", "date": day, "row": family_row_json(family)}),
        )

    def close(self) -> None:
        """Stop the password checks, write the queued audit rows, then close the store."""
        self.accounts.hashing.close()
        close_writer(self.store.engine)
        self.store.close()


def open_runtime(settings: Settings, *, clock: Clock | None = None) -> Runtime:
    """Open the store named by `settings.db` (already migrated) and the services over it.

    The clock is the system's, moved by `settings.clock_offset_seconds`, unless given.
    """
    clock = clock or shifted_clock(settings.clock_offset_seconds)
    store = SqlEventStore(
        make_engine(
            settings.db,
            busy_timeout_s=settings.busy_timeout_seconds,
            statement_timeout_s=settings.statement_timeout_seconds,
        )
    )
    catalog = PathwayCatalog.with_files(settings.pathway_files)
    centre = centre_from(settings, catalog)
    cases = CaseService(store, catalog=catalog, clock=clock)
    boards = BoardModel(cases, clock=clock)
    setup = CentreSetupService(SqlCentreSetups(store.engine), clock=clock)
    tz = ZoneInfo(settings.timezone)
    runtime = Runtime(
        settings=settings,
        centre=centre,
        store=store,
        cases=cases,
        accounts=AccountService(
            SqlAccounts(store.engine), settings=settings, roles=centre.role_ids, clock=clock
        ),
        hub=LiveHub(
            lambda case_id: runtime.render_case(case_id), heartbeat_s=settings.heartbeat_seconds
        ),
        boards=boards,
        setup=setup,
        displays=DisplayService(SqlDisplayLinks(store.engine), clock=clock),
        schedule=ScheduleService(
            SqlSchedules(store.engine),
            boards=boards,
            cases=cases,
            setup=setup,
            clock=clock,
            tz=tz,
            is_staff=centre.is_staff,
        ),
        fhir=FhirService(
            cases,
            SqlSchedules(store.engine),
            setup,
            SqlAccounts(store.engine),
            SqlFhirBookings(store.engine),
            tz,
        ),
        reports=ReportService(
            SqlReportFacts(store.engine),
            SqlSchedules(store.engine),
            setup,
            catalog,
            clock,
            tz,
            days=SqlReportDays(store.engine),
        ),
        etas=EtaService(
            lambda first, last: history(runtime, first, last),
            lambda facts, context: eta_model(runtime, facts, context),
            spread_max_min=settings.eta_spread_minutes,
            today=lambda: runtime.today(),
        ),
        clock=clock,
        tz=tz,
    )
    return runtime
