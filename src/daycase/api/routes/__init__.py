"""The `/api/v1` routes, one module per concern."""

from __future__ import annotations

from fastapi import APIRouter

from daycase.api.routes import audit, auth, boards, cases, reports, schedule, stream

api_router = APIRouter(prefix="/api/v1")
for module in (auth, cases, boards, schedule, reports, audit, stream):
    api_router.include_router(module.router)
