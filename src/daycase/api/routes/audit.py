"""Who read or wrote which case, when (API room, admin only).

Reads are audit rows; writes are the case's own events, merged in for one case
(`daycase.services.audit_log`). The log comes a page at a time, newest page first; the
`Link` header names the page before it. Reading the log is itself a row in it.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Response

from daycase.api.deps import AdminDep, RuntimeDep
from daycase.api.routes.common import CaseIdQuery, refusals
from daycase.api.schemas import AuditOut
from daycase.services.audit_log import DEFAULT_LIMIT, MAX_LIMIT, read_audit

router = APIRouter(tags=["audit"])

LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Rows of reads per page (at most {MAX_LIMIT})")
]
BeforeQuery = Annotated[
    int | None,
    Query(
        ge=1,
        le=2**63 - 1,
        description="Only rows older than this row id: the `before` of the `Link: rel=next`",
    ),
]


@router.get("/audit", response_model=list[AuditOut], responses=refusals(403))
def audit_log(
    user: AdminDep,
    runtime: RuntimeDep,
    response: Response,
    case_id: CaseIdQuery = None,
    before: BeforeQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
) -> list[AuditOut]:
    """The newest `limit` reads (before row `before`), oldest first; for one case, with its
    writes of the same span. `Link: <…>; rel="next"` points at the page before, if any."""
    page = read_audit(runtime, user, case_id=case_id, before=before, limit=limit)
    if page.older is not None:
        query = {"case_id": case_id, "before": page.older, "limit": limit}
        link = urlencode({k: v for k, v in query.items() if v is not None})
        response.headers["Link"] = f'</api/v1/audit?{link}>; rel="next"'
    return [
        AuditOut(
            id=line.id,
            at=line.at.isoformat(),
            user=line.user,
            role=line.role,
            action=line.action,
            case_id=line.case_id,
            detail=line.detail,
            case_ids=list(line.case_ids),
        )
        for line in page.lines
    ]
