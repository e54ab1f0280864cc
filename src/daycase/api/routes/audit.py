"""Who read or wrote which case, when (API room, admin only).

Reads are audit rows; writes are the case's own events, which carry their author and
time already, so they are merged in rather than written twice.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from daycase.api.deps import AdminDep, RuntimeDep
from daycase.api.routes.common import CaseIdQuery, refusals
from daycase.api.schemas import AuditOut
from daycase.engine.events import CaseOpened, EventAmended, EventVoided, StepRecorded

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=list[AuditOut], responses=refusals(403))
def audit_log(user: AdminDep, runtime: RuntimeDep, case_id: CaseIdQuery = None) -> list[AuditOut]:
    """Reads (and, for one case, writes) in time order."""
    rows = [
        AuditOut(
            at=r.at,
            user=r.user_name,
            role=r.role,
            action=r.action,
            case_id=r.case_id,
            detail=r.detail,
        )
        for r in runtime.accounts.accounts.audit_rows(case_id=case_id)
    ]
    if case_id is not None:
        for e in runtime.store.load(case_id):
            if isinstance(e, CaseOpened):
                action, detail = "open_case", ""
            elif isinstance(e, StepRecorded):
                action, detail = "record", e.step + (" (override)" if e.override else "")
            elif isinstance(e, EventAmended):
                action, detail = "amend", e.target_event_id
            else:
                assert isinstance(e, EventVoided)
                action, detail = "void", e.target_event_id
            rows.append(
                AuditOut(
                    at=e.recorded_at.isoformat(),
                    user=e.actor,
                    role=e.role,
                    action=action,
                    case_id=case_id,
                    detail=detail,
                )
            )
    rows.sort(key=lambda r: datetime.fromisoformat(r.at))  # instants, whatever the offset
    return rows
