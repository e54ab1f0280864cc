"""Live updates over Server-Sent Events (API room).

Staff receive a board row whenever a case changes; a viewer receives only the family
row. A heartbeat goes out when nothing else has for a while. Authentication is the
bearer header or the page's session cookie, never a token in the URL, and it is checked
again while the stream stays open.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from daycase.api.deps import RuntimeDep, UserDep, bearer_token
from daycase.api.routes.common import refusals
from daycase.services.live import Audience

router = APIRouter(tags=["stream"])


@router.get(
    "/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **refusals()},
)
async def stream(request: Request, user: UserDep, runtime: RuntimeDep) -> EventSourceResponse:
    """`case` events with `{type, date, row}`; `heartbeat` events in between.

    The stream ends when its sign-in does (sign-out, end of shift, user disabled): it is
    checked again at most once per heartbeat interval, busy or idle.
    """
    audience: Audience = "staff" if runtime.centre.is_staff(user.role) else "family"
    token = bearer_token(request)
    sub = runtime.hub.subscribe(audience)
    heartbeat_s = runtime.settings.heartbeat_seconds

    def still_signed_in() -> bool:
        return token is not None and runtime.accounts.user_for_token(token) == user

    async def events() -> AsyncIterator[dict[str, str] | bytes]:
        try:
            yield {"event": "hello", "data": json.dumps({"audience": audience})}
            checked_at = time.monotonic()
            while not sub.dropped:
                message: bytes | None
                try:
                    async with asyncio.timeout(heartbeat_s):
                        message = await sub.queue.get()
                except TimeoutError:
                    message = None
                if time.monotonic() - checked_at >= heartbeat_s:
                    if not await asyncio.to_thread(still_signed_in):
                        break
                    checked_at = time.monotonic()
                if message is None:
                    yield {"event": "heartbeat", "data": runtime.now().isoformat()}
                elif not message:
                    break
                else:
                    yield message  # already a whole `case` event, encoded once by the hub
        finally:
            runtime.hub.unsubscribe(sub)

    return EventSourceResponse(events())
