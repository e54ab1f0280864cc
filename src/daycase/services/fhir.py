"""FHIR R4 export of cases, for the CLI and the API alike (service room).

The mapping itself is `daycase.fhir.export` (pure); this finds the cases, their pathways,
the rooms the schedule placed them in and the reads the audit log holds, and hands each
case to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from daycase.engine.fold import CaseState
from daycase.fhir.export import CaseExport, Read, Resource, bundle, case_resources
from daycase.services.cases import CaseService
from daycase.services.centre_setup import CentreSetupService
from daycase.services.schedule_plan import DaySchedule
from daycase.store.accounts import AuditRow, SqlAccounts
from daycase.store.schedule import SqlSchedules

# Where the bundles' full URLs live when no server names its own (the CLI's files).
DEFAULT_BASE = "urn:daycase:fhir"


@dataclass(slots=True)
class FhirService:
    cases: CaseService
    schedules: SqlSchedules
    setup: CentreSetupService
    accounts: SqlAccounts
    tz: ZoneInfo

    def case(self, case_id: str) -> list[Resource]:
        """Every resource of one case (`CaseNotFound`, `PathwayUnavailable` as named)."""
        state = self.cases.state(case_id)
        assert state.opened is not None
        day = state.opened.scheduled_start.astimezone(self.tz).date()
        return self._export(state, self._rooms(day), self.accounts.own_reads([case_id]))

    def case_bundle(self, case_id: str, *, base: str = DEFAULT_BASE) -> Resource:
        """The case's resources as a searchset Bundle (`Encounter/{id}/$everything`)."""
        return bundle(self.case(case_id), base=base, kind="searchset")

    def day(self, day: date) -> Iterator[tuple[str, list[Resource]]]:
        """Each case booked on `day`, with its resources, in booked order."""
        rooms = self._rooms(day)
        summaries = self.cases.store.cases(on=day)
        reads = self.accounts.own_reads([s.case_id for s in summaries])
        for summary in summaries:
            yield summary.case_id, self._export(self.cases.state(summary.case_id), rooms, reads)

    def _export(
        self, state: CaseState, rooms: dict[str, str], reads: dict[str, list[AuditRow]]
    ) -> list[Resource]:
        assert state.opened is not None
        case_id = state.opened.case_id
        return case_resources(
            CaseExport(
                state=state,
                pathway=self.cases.pathway_of(state),
                room=rooms.get(case_id),
                reads=tuple(
                    Read(datetime.fromisoformat(row.at), row.user_name, row.role, row.action)
                    for row in reads.get(case_id, [])
                ),
            )
        )

    def _rooms(self, day: date) -> dict[str, str]:
        """Each case's room name on the day's schedule."""
        row = self.schedules.latest(day)
        if row is None:
            return {}
        names = {room.id: room.name for room in self.setup.current().setup.rooms}
        schedule = DaySchedule.model_validate_json(row.body)
        return {
            case_id: names.get(room, room)
            for room, case_ids in schedule.rooms.items()
            for case_id in case_ids
        }
