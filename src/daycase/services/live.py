"""Live updates: fan a changed case's board rows out to every stream subscriber (service room).

Writers call `notify(case_id)` from any thread (or a PostgreSQL listener does, for writes
made by other processes). One task per process renders each changed case once and puts
the ready-made payloads on every subscriber's queue; a subscriber that falls far behind
is dropped rather than allowed to hold memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger(__name__)

Audience = Literal["staff", "family"]
# case id -> (staff payload, family payload), both JSON text; None when the case is gone.
Renderer = Callable[[str], tuple[str, str] | None]
QUEUE_LIMIT = 1000


@dataclass(eq=False)
class Subscriber:
    audience: Audience
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    dropped: bool = False
    # Which slice of the heartbeat interval this stream's heartbeat falls in.
    slot: int = 0


# Put on each queue once per heartbeat interval by the hub's own clock: a stream waits on
# its queue alone, with no timer of its own per message (thousands of streams each arming
# and cancelling a timer on every change cost as much as sending the change). The streams
# are spread over `BEAT_SLICES` slices of the interval, so they never all wake (and check
# their sign-in) at once.
HEARTBEAT = b"\x00heartbeat"
BEAT_SLICES = 15


class LiveHub:
    def __init__(self, render: Renderer, *, heartbeat_s: float = 15.0) -> None:
        self._render = render
        self._heartbeat_s = heartbeat_s
        self._beat_task: asyncio.Task[None] | None = None
        self._joined = 0
        self._subscribers: set[Subscriber] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: asyncio.Queue[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = threading.Lock()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._pending = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="daycase-live")
        self._beat_task = asyncio.create_task(self._beat(), name="daycase-heartbeat")

    async def stop(self) -> None:
        for task in (self._task, self._beat_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for sub in list(self._subscribers):
            self._drop(sub)

    def notify(self, case_id: str) -> None:
        """Safe from any thread; a no-op before `start` (e.g. in CLI commands) and when
        nobody is listening: rendering a case costs a load and an evaluation."""
        if not self._subscribers:
            return
        loop, pending = self._loop, self._pending
        if loop is None or pending is None or loop.is_closed():
            return
        # The loop may close between the check and the call while the server shuts down.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(pending.put_nowait, case_id)

    def subscribe(self, audience: Audience) -> Subscriber:
        with self._lock:
            self._joined += 1
            sub = Subscriber(audience, slot=self._joined % BEAT_SLICES)
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def _drop(self, sub: Subscriber) -> None:
        sub.dropped = True
        self.unsubscribe(sub)
        with contextlib.suppress(asyncio.QueueFull):
            sub.queue.put_nowait(b"")  # wakes the stream so it can close

    async def _run(self) -> None:
        assert self._pending is not None
        while True:
            case_id = await self._pending.get()
            batch = {case_id}
            while not self._pending.empty():
                batch.add(self._pending.get_nowait())
            # One trip to a thread for the whole batch: a hop per case costs as much as
            # rendering it from the write path's warm copy.
            for payloads in await asyncio.to_thread(self._render_all, sorted(batch)):
                self._fan_out(*payloads)

    async def _beat(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(self._heartbeat_s / BEAT_SLICES)
            tick = (tick + 1) % BEAT_SLICES
            with self._lock:
                due = [sub for sub in self._subscribers if sub.slot == tick]
            for sub in due:
                with contextlib.suppress(asyncio.QueueFull):  # a full queue is busy anyway
                    sub.queue.put_nowait(HEARTBEAT)

    def _render_all(self, case_ids: list[str]) -> list[tuple[str, str]]:
        rendered: list[tuple[str, str]] = []
        for case_id in case_ids:
            try:
                payloads = self._render(case_id)
            except Exception:
                log.exception("could not render live update for case %s", case_id)
                continue
            if payloads is not None:
                rendered.append(payloads)
        return rendered

    def _fan_out(self, staff: str, family: str) -> None:
        # Encoded once as a whole Server-Sent Event, not once per subscriber.
        frames = {"staff": sse_frame("case", staff), "family": sse_frame("case", family)}
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub.queue.put_nowait(frames[sub.audience])
            except asyncio.QueueFull:
                self._drop(sub)


def sse_frame(event: str, data: str) -> bytes:
    """One Server-Sent Event on the wire; `data` is one line of JSON."""
    return f"event: {event}\r\ndata: {data}\r\n\r\n".encode()
