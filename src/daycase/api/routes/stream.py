"""Live updates over Server-Sent Events (API room).

Staff receive a board row whenever a case changes, as the read matrix lets them read it
(the front desk and admins without alerts); a viewer receives only the family row. A
heartbeat goes out once per interval, put on the queue by the hub (`services.live`).
Authentication is the bearer header or the page's session cookie, never a token in the
URL, and it is checked again while the stream stays open.

Every board row sent is a read of its case and is audited like one: a row when a staff
stream opens, then the cases it showed, written together at most once per heartbeat
interval (and when the stream ends) so that hundreds of open streams do not each write on
every change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from daycase.api.deps import RuntimeDep, UserDep, bearer_token
from daycase.api.routes.common import refusals
from daycase.services.access import Reader, reader_of
from daycase.services.live import HEARTBEAT, Audience, sse_frame

router = APIRouter(tags=["stream"])
log = logging.getLogger(__name__)

# The hub encodes each change once for every subscriber; the case id is read back from the
# frame without parsing the whole row (`Runtime.render_case` writes it as JSON).
_CASE_ID = re.compile(rb'"case_id":\s*"([^"\\]+)"')
BATCH = 64


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
    reader = reader_of(runtime, user)
    audience: Audience = "staff" if reader.staff else "family"
    token = bearer_token(request)
    heartbeat_s = runtime.settings.heartbeat_seconds
    shown: dict[str, None] = {}  # cases sent since the last audit write, in order

    def still_signed_in() -> bool:
        # Not a use of the sign-in: an open board alone must still time out when idle.
        return token is not None and runtime.accounts.user_for_token(token, active=False) == user

    async def audit(case_ids: list[str | None], detail: str) -> None:
        # Shielded: the last write happens while the stream is being cancelled.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(runtime.audit_read, user, "stream", case_ids, detail)

    if reader.staff:
        # Before the answer starts: a stream whose reads cannot be audited is refused
        # like any other read (the audit log's own refusal), not opened.
        await audit([None], "opened")
    sub = runtime.hub.subscribe(audience)

    async def flush() -> None:
        """Write the cases sent so far; a failure ends the stream (an unaudited read must
        not go on), and the client's reconnection is refused until the log keeps up."""
        if shown:
            case_ids: list[str | None] = list(shown)
            shown.clear()
            await audit(case_ids, "live board rows sent")

    async def events() -> AsyncIterator[dict[str, str] | bytes]:
        try:
            yield {"event": "hello", "data": json.dumps({"audience": audience})}
            checked_at = time.monotonic()
            while not sub.dropped:
                # The hub puts a heartbeat on every queue each interval: no timer here.
                message = await sub.queue.get()
                if message == HEARTBEAT or time.monotonic() - checked_at >= heartbeat_s:
                    await flush()
                    if not await asyncio.to_thread(still_signed_in):
                        break
                    checked_at = time.monotonic()
                if message == HEARTBEAT:
                    yield {"event": "heartbeat", "data": runtime.now().isoformat()}
                    continue
                # Whatever else is already waiting goes out in the same write: a busy hub
                # (thousands of streams, a burst of changes) costs one send per stream,
                # not one per change per stream.
                frames = [message]
                while len(frames) < BATCH and not sub.queue.empty():
                    frames.append(sub.queue.get_nowait())
                closing = b"" in frames
                frames = [f for f in frames if f and f != HEARTBEAT]
                if reader.staff:
                    for frame in frames:
                        found = _CASE_ID.search(frame)
                        if found:
                            shown[found.group(1).decode()] = None
                    if not reader.clinical:
                        frames = [_as_read_by(reader, frame) for frame in frames]
                if frames:
                    # Each is a whole `case` event, encoded once by the hub.
                    yield b"".join(frames)
                if closing:
                    break
        finally:
            runtime.hub.unsubscribe(sub)
            try:
                await flush()
            except Exception:
                log.exception("could not audit the last rows of a live stream for %s", user.name)

    return EventSourceResponse(events())


def _as_read_by(reader: Reader, frame: bytes) -> bytes:
    """A staff `case` frame re-encoded with the row this reader may read."""
    data = frame.split(b"\ndata:", 1)[1].strip()
    message = json.loads(data)
    message["row"] = reader.board_json(message["row"])
    return sse_frame("case", json.dumps(message))
