"""Live updates over Server-Sent Events (API room).

Staff receive a board row whenever a case changes; a viewer receives only the family
row. A heartbeat goes out when nothing else has for a while. Authentication is the
bearer header or the page's session cookie, never a token in the URL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from daycase.api.deps import STAFF_ROLES, RuntimeDep, UserDep
from daycase.api.routes.common import refusals
from daycase.services.live import Audience

router = APIRouter(tags=["stream"])


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **refusals()},
)
async def stream(request: Request, user: UserDep, runtime: RuntimeDep) -> EventSourceResponse:
    """`case` events with `{type, date, row}`; `heartbeat` events in between."""
    audience: Audience = "staff" if user.role in STAFF_ROLES else "family"
    sub = runtime.hub.subscribe(audience)
    heartbeat_s = runtime.settings.heartbeat_seconds

    async def events() -> AsyncIterator[dict[str, str]]:
        try:
            yield {"event": "hello", "data": json.dumps({"audience": audience})}
            while not sub.dropped:
                try:
                    message = await asyncio.wait_for(sub.queue.get(), timeout=heartbeat_s)
                except TimeoutError:
                    yield {"event": "heartbeat", "data": runtime.now().isoformat()}
                    continue
                if not message:
                    break
                yield {"event": "case", "data": message}
        finally:
            runtime.hub.unsubscribe(sub)

    return EventSourceResponse(events())
