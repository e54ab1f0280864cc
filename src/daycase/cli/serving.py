"""How `daycase serve` runs uvicorn so that slow or idle clients cannot take it down (CLI room).

Uvicorn times out only idle keep-alive connections: a connection that sends nothing, or
half a request line and then nothing, is held for ever, and enough of them exhaust the
process's file descriptors. Each connection here gets a deadline for its request head and
one for its body, and the open connections are capped below the descriptor limit: at the
cap the connection that has waited longest without a complete request is closed to make
room. A request whose head has arrived (a live stream included) is never cut.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from daycase.config import Settings

log = logging.getLogger("uvicorn.error")

# Descriptors kept back for the database, log files and the interpreter itself (at most a
# quarter of the limit): a SQLite pool holds three a connection, PostgreSQL up to forty.
RESERVED_DESCRIPTORS = 128
REPORT_EVERY_S = 10.0

Phase = Literal["head", "body", "busy", "idle"]
REASONS = {
    "shed": "closed to make room (the oldest waiting)",
    "refused": "refused at once (every connection busy)",
    "slow_head": "closed: request head not complete in time",
    "slow_body": "closed: request body not complete in time",
    "large_head": "refused: request head too large",
}


@dataclass(frozen=True, slots=True)
class Limits:
    """What one server process allows its clients; see docs/operations.md."""

    max_connections: int
    header_timeout_s: float
    body_timeout_s: float
    max_header_bytes: int


class Guard:
    """The connections of one server: all that are open, and those waiting on their client.

    `waiting` is kept oldest first (dicts keep insertion order), so making room is O(1).
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.open: set[GuardedProtocol] = set()
        self.waiting: dict[GuardedProtocol, None] = {}
        self._tally: Counter[str] = Counter()
        self._report: asyncio.TimerHandle | None = None

    def admit(self, conn: GuardedProtocol) -> bool:
        """Take a new connection, closing the longest-waiting one if the cap is reached."""
        if len(self.open) >= self.limits.max_connections:
            oldest = next(iter(self.waiting), None)
            if oldest is None:
                self.note("refused")
                return False
            oldest.drop()
            self.note("shed")
        self.open.add(conn)
        return True

    def waits(self, conn: GuardedProtocol) -> None:
        """The connection now waits on its client: newest in line to be closed."""
        self.waiting.pop(conn, None)
        self.waiting[conn] = None

    def works(self, conn: GuardedProtocol) -> None:
        self.waiting.pop(conn, None)

    def leave(self, conn: GuardedProtocol) -> None:
        self.open.discard(conn)
        self.waiting.pop(conn, None)

    def note(self, reason: str) -> None:
        """Count a closed connection; one log line sums them up, not one line each."""
        self._tally[reason] += 1
        if self._report is None:
            self._report = asyncio.get_running_loop().call_later(REPORT_EVERY_S, self._flush)

    def _flush(self) -> None:
        self._report = None
        counts = ", ".join(f"{n} {REASONS[reason]}" for reason, n in sorted(self._tally.items()))
        self._tally.clear()
        log.warning(
            "Slow or surplus connections in the last %.0f s: %s (%d open, limit %d).",
            REPORT_EVERY_S,
            counts,
            len(self.open),
            self.limits.max_connections,
        )


class GuardedProtocol(HttpToolsProtocol):
    """Uvicorn's httptools protocol with deadlines on the request and a place in the guard.

    Phases: `head` (from the connection's start, or the first byte of a later request on a
    kept-alive connection, until the head is complete), `body` (until the request is
    complete), `busy` (the app answers; no deadline, so streams live on), `idle` (between
    requests, where uvicorn's keep-alive timeout applies). Every phase but `busy` waits on
    the client.
    """

    guard: ClassVar[Guard]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.phase: Phase = "head"
        self._deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.guard.admit(self):
            transport.abort()
            return
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        self.guard.leave(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.phase == "idle":
            self._await_head()
        super().data_received(data)
        if self.phase == "head" and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.guard.limits.max_header_bytes:
                self.guard.note("large_head")
                self._answer_and_close(431, "Request header fields too large.")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self.phase = "body"
        self._set_deadline(self.guard.limits.body_timeout_s)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._cancel_deadline()
        if self.cycle.response_complete:
            # Answered before the body was read (a refusal): idle, under keep-alive again.
            self._go_idle()
        else:
            self.phase = "busy"
            self.guard.works(self)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # With a pipelined request started, the current cycle is that one, still running.
        done = self.phase == "busy" and self.cycle.response_complete
        if done and not self.transport.is_closing():
            self._go_idle()

    def drop(self) -> None:
        """Close at once to make room; the guard forgets it now, not when the loop gets to it."""
        self._cancel_deadline()
        self.guard.leave(self)
        self.transport.abort()

    def _await_head(self) -> None:
        self.phase = "head"
        self._head_bytes = 0
        self._set_deadline(self.guard.limits.header_timeout_s)
        self.guard.waits(self)

    def _go_idle(self) -> None:
        self.phase = "idle"
        self.guard.waits(self)
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def _set_deadline(self, seconds: float) -> None:
        self._cancel_deadline()
        self._deadline = self.loop.call_later(seconds, self._deadline_passed)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.phase == "head":
            self.guard.note("slow_head")
            if self._head_bytes:
                self._answer_and_close(408, "Request not complete in time.")
            else:
                self.transport.close()  # nothing was asked: nothing to answer
        elif self.phase == "body":
            if self.flow.read_paused or self.cycle.waiting_for_100_continue:
                # The server is not reading, or the client waits for our go-ahead: not slow.
                self._set_deadline(self.guard.limits.body_timeout_s)
                return
            self.guard.note("slow_body")
            self.transport.close()

    def _answer_and_close(self, status: int, message: str) -> None:
        """A plain answer before any app saw the request, then the connection is closed."""
        body = message.encode("ascii")
        phrase = {408: "Request Timeout", 431: "Request Header Fields Too Large"}[status]
        self.transport.write(
            f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode("ascii")
            + body
        )
        self.transport.close()


def connection_budget(wanted: int) -> int:
    """How many connections this process can hold: `wanted`, unless descriptors run short.

    The soft descriptor limit is raised towards the hard one when it is too low; what
    cannot be had lowers the cap instead, keeping descriptors back for the database.
    """
    if sys.platform == "win32":
        return wanted
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + RESERVED_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < need:
        raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - min(RESERVED_DESCRIPTORS, soft // 4)))


GC_THRESHOLDS = (50_000, 20, 100)


def limits_from(settings: Settings) -> Limits:
    return Limits(
        max_connections=connection_budget(settings.max_connections),
        header_timeout_s=settings.header_timeout_seconds,
        body_timeout_s=settings.body_timeout_seconds,
        max_header_bytes=settings.max_header_bytes,
    )


def guarded_protocol(limits: Limits) -> type[GuardedProtocol]:
    """A protocol class whose connections share one guard (one per server)."""

    class Guarded(GuardedProtocol):
        guard = Guard(limits)

    return Guarded


def serve(app: Any, settings: Settings, limits: Limits) -> None:
    """Run uvicorn on the app with the guarded protocol; returns when the server stops.

    WebSockets are off: the app has none, and an upgraded connection would leave the guard.
    """
    # Fewer, larger collections: a full collection walks every live object (the cases this
    # process keeps warm among them) and stalled every request for over 100 ms at a time,
    # several times a minute under load; young garbage is still collected promptly.
    gc.set_threshold(*GC_THRESHOLDS)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        http=guarded_protocol(limits),
        ws="none",
        timeout_keep_alive=settings.keep_alive_seconds,
        # X-Forwarded-Proto/-For are believed from these proxies only.
        forwarded_allow_ips=list(settings.forwarded_allow_ips),
        log_level="warning",
        access_log=False,  # off at "warning" anyway; this skips building each line
    )
