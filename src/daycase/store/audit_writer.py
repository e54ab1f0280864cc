"""One background writer per process and database for audit rows (store room).

Reads queue their audit rows and never wait for the write lock; one thread writes what has
queued, a batch per transaction, retrying while the store is busy. When rows cannot be
written for `MAX_LAG_S`, a read is refused (`AuditUnavailable`) rather than left unaudited;
rows still queued at a kill -9 are lost (normally a few milliseconds' worth).
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence

import sqlalchemy as sa

from daycase.store.audit import AuditEntry, append_entries
from daycase.store.base import StoreBusy

log = logging.getLogger(__name__)

MAX_ROWS = 50_000  # queued and not yet written; a busy day writes a few rows a second
MAX_LAG_S = 5.0  # oldest queued row older than this: the store is not taking writes
WAIT_S = 2.0  # how long a read waits for room before it is refused
BATCH_ROWS = 5_000  # most rows in one transaction
CLOSE_S = 15.0  # how long closing waits for the last rows (a SQLite busy wait is 10 s)
_RETRY_S = (0.05, 0.1, 0.2, 0.5, 1.0)


class AuditUnavailable(StoreBusy):
    """The audit log cannot take more rows now; the read it was for must be refused
    (a busy store to the API and the pages: 503 with Retry-After)."""


class AuditWriter:
    """Queues audit rows and writes them from one thread, in batches, one transaction each."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        max_rows: int = MAX_ROWS,
        max_lag_s: float = MAX_LAG_S,
        wait_s: float = WAIT_S,
        close_s: float = CLOSE_S,
    ) -> None:
        self._engine = engine
        self._max_rows = max_rows
        self._max_lag_s = max_lag_s
        self._wait_s = wait_s
        self._close_s = close_s
        self._cond = threading.Condition()
        self._pending: deque[tuple[float, list[AuditEntry]]] = deque()
        self._unwritten_rows = 0  # queued plus the batch being written
        self._submitted = 0  # batches accepted, ever
        self._written = 0  # batches committed, ever (FIFO: the first `_written` of them)
        self._oldest_at: float | None = None  # when the oldest unwritten batch was queued
        self._stopping = False
        self._thread: threading.Thread | None = None

    def submit(self, entries: Sequence[AuditEntry]) -> None:
        """Queue rows to be written soon; `AuditUnavailable` when the log is not keeping up."""
        if not entries:
            return
        deadline = time.monotonic() + self._wait_s
        with self._cond:
            if self._stopping:
                raise AuditUnavailable("the audit log is closed")
            while not self._has_room(len(entries)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.error(
                        "audit log not keeping up (%d rows unwritten, oldest %.1f s): "
                        "refusing a read",
                        self._unwritten_rows,
                        self._lag_s(),
                    )
                    raise AuditUnavailable("the audit log cannot be written just now")
                self._cond.wait(min(remaining, 0.1))
            now = time.monotonic()
            self._pending.append((now, list(entries)))
            self._unwritten_rows += len(entries)
            if self._oldest_at is None:
                self._oldest_at = now
            self._submitted += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="daycase-audit-writer", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every row queued before this call is written; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            target = self._submitted
            while self._written < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout_s: float | None = None) -> None:
        """Write what is queued (retrying up to `timeout_s`), then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(self._close_s if timeout_s is None else timeout_s)
        with self._cond:
            lost = [entry for _, batch in self._pending for entry in batch]
        if lost:
            # Never silently: the log holds what was not written, for an operator to restore.
            log.error(
                "audit rows not written at shutdown (%d queued): %s",
                len(lost),
                json.dumps([_as_json(entry) for entry in lost]),
            )

    def _has_room(self, rows: int) -> bool:
        if self._unwritten_rows == 0:
            return True  # one read's rows always fit an empty queue
        return self._unwritten_rows + rows <= self._max_rows and self._lag_s() < self._max_lag_s

    def _lag_s(self) -> float:
        return 0.0 if self._oldest_at is None else time.monotonic() - self._oldest_at

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if not self._pending:
                    return
                taken: list[tuple[float, list[AuditEntry]]] = []
                rows = 0
                for queued in self._pending:  # every read queued so far, in one transaction
                    if taken and rows + len(queued[1]) > BATCH_ROWS:
                        break
                    taken.append(queued)
                    rows += len(queued[1])
            entries = [entry for _, batch in taken for entry in batch]
            if not self._write(entries):
                return  # stopping, and the store would not take them: close() logs them
            with self._cond:
                for _ in taken:
                    self._pending.popleft()  # only this thread removes rows
                self._written += len(taken)
                self._unwritten_rows -= len(entries)
                self._oldest_at = self._pending[0][0] if self._pending else None
                self._cond.notify_all()

    def _write(self, entries: list[AuditEntry]) -> bool:
        """One transaction for the batch, retried while the store is busy or down."""
        attempt = 0
        stop_by: float | None = None
        while True:
            try:
                with self._engine.begin() as conn:
                    append_entries(conn, entries)
                return True
            except Exception:
                level = logging.WARNING if attempt < 3 else logging.ERROR
                log.log(
                    level,
                    "audit rows not written yet (attempt %d, %d rows waiting)",
                    attempt + 1,
                    self._unwritten_rows,
                    exc_info=attempt % 30 == 0,  # the cause once, then every half minute
                )
            with self._cond:
                if self._stopping:
                    stop_by = stop_by or time.monotonic() + max(self._close_s - 1.0, 0.0)
                    if time.monotonic() >= stop_by:
                        return False
            time.sleep(_RETRY_S[min(attempt, len(_RETRY_S) - 1)])
            attempt += 1


def _as_json(entry: AuditEntry) -> dict[str, str | None]:
    return {
        "at": entry.at.isoformat(),
        "user_name": entry.user_name,
        "role": entry.role,
        "action": entry.action,
        "case_id": entry.case_id,
        "detail": entry.detail,
    }


_WRITERS: dict[int, AuditWriter] = {}
_REGISTRY_LOCK = threading.Lock()


def writer_for(engine: sa.Engine) -> AuditWriter:
    """The process's writer for this engine's database, made on first use."""
    with _REGISTRY_LOCK:
        writer = _WRITERS.get(id(engine))
        if writer is None:
            writer = _WRITERS[id(engine)] = AuditWriter(engine)
        return writer


def flush_writer(engine: sa.Engine, timeout_s: float = 10.0) -> bool:
    """Write what this process has queued for `engine`; True when nothing is left."""
    with _REGISTRY_LOCK:
        writer = _WRITERS.get(id(engine))
    return writer.flush(timeout_s) if writer is not None else True


def close_writer(engine: sa.Engine) -> None:
    """Write what is queued and stop the writer (before the engine is disposed)."""
    with _REGISTRY_LOCK:
        writer = _WRITERS.pop(id(engine), None)
    if writer is not None:
        writer.close()


@atexit.register
def _close_all() -> None:
    """A process that never closed its runtime still writes what it queued."""
    with _REGISTRY_LOCK:
        writers = list(_WRITERS.values())
        _WRITERS.clear()
    for writer in writers:
        writer.close()
