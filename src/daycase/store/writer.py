"""Group commit: appends queued together share one transaction on one connection (store room).

A clinical write is tiny; its cost is the transaction around it (BEGIN, COMMIT and the
fsync that makes it durable). Callers queue their work and wait for their own outcome;
whoever commits takes everything queued, runs each piece inside a savepoint (so one
refused batch never undoes another), commits once, and only then answers each caller.
Under load many appends share one fsync; alone, an append costs what it did before.

A caller on a thread commits for itself and for whoever queued meanwhile (leader and
followers: no hand-over to another thread). A caller on an event loop must not block it:
its work goes to the writer thread, which answers the loop once per commit, not once per
caller, since crossing threads is a large share of a write's CPU time.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from daycase.store.base import StoreBusy

log = logging.getLogger(__name__)

Work = Callable[[Any], Any]
Outcome = tuple[Any, BaseException | None]
# Runs a whole batch's requests with a few set-based statements inside the transaction;
# raises `Fallback` when that cannot settle every request cleanly (nothing is kept then).
BatchWork = Callable[[Any, list[Any]], list[Outcome]]
MAX_BATCH = 256


class Fallback(Exception):
    """The set-based batch met something only request-by-request work can settle (a race
    with another process, a repeated id): the transaction is rolled back and redone so."""


@dataclass(slots=True)
class _Job:
    work: Work
    request: Any = None
    future: Future[Any] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    waiter: asyncio.Future[Any] | None = None


_STOP = object()


class GroupWriter:
    """Runs `work(cursor)` calls inside shared transactions on one connection of its own.

    `connect()` opens that connection; `dialect` picks how a transaction starts and ends
    (SQLite takes its write lock at BEGIN IMMEDIATE, PostgreSQL begins implicitly).
    `busy` tells which driver errors mean the database is locked or not answering: those
    reach every caller of the batch as `StoreBusy`, and the connection is opened afresh.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        dialect: str,
        busy: Callable[[BaseException], bool],
        batch_work: BatchWork | None = None,
        name: str = "daycase-writer",
    ) -> None:
        self._connect = connect
        self._batch_work = batch_work
        self._sqlite = dialect == "sqlite"
        self._busy = busy
        self._name = name
        self._queue: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        # Held by whoever runs a transaction: a thread's caller or the writer thread.
        self._leader = threading.Lock()
        self._conn: Any = None
        self._closed = False

    def call(self, work: Work, request: Any = None) -> Any:
        """Run `work` in the next transaction and return its result (or raise its error).

        `request` is what `batch_work` reads when the batch is done set-based.
        """
        if self._queue.empty() and self._leader.acquire(blocking=False):
            # Nobody else is writing: commit alone, without queueing (the common case
            # for the command line and one nurse at a time).
            try:
                if self._closed:
                    raise RuntimeError("the store is closed")
                [(result, error)] = self._commit([_Job(work, request)])
            finally:
                self._leader.release()
            if error is not None:
                raise error
            return result
        future: Future[Any] = Future()
        self._submit(_Job(work, request, future=future), start_thread=False)
        with self._leader:
            if not future.done():
                self._commit_queued()
        return future.result()

    async def call_async(self, work: Work, request: Any = None) -> Any:
        """The same, awaited on the running event loop instead of blocking a thread."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        self._submit(_Job(work, request, loop=loop, waiter=waiter), start_thread=True)
        return await waiter

    def close(self) -> None:
        """Finish what is queued, then stop the thread and close the connection."""
        with self._start_lock:
            self._closed = True
            thread = self._thread
            self._thread = None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()
        with self._leader:
            self._commit_queued()
            self._disconnect()

    def _submit(self, job: _Job, *, start_thread: bool) -> None:
        with self._start_lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            if start_thread and self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._queue.put(job)

    def _run(self) -> None:
        """The writer thread: wait for work, then commit everything queued by then."""
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            assert isinstance(first, _Job)
            with self._leader:
                self._commit_queued(first)

    def _commit_queued(self, first: _Job | None = None) -> None:
        """With the leader lock: commit `first` and all that is queued, in batches."""
        batch = [first] if first is not None else []
        while True:
            while len(batch) < MAX_BATCH:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    self._queue.put(_STOP)  # for the writer thread, after this batch
                    break
                assert isinstance(job, _Job)
                batch.append(job)
            if not batch:
                return
            self._answer(batch, self._commit(batch))
            if len(batch) < MAX_BATCH:
                return
            batch = []

    def _commit(self, batch: list[_Job]) -> list[tuple[Any, BaseException | None]]:
        """Every job's (result, error); a failed transaction fails every job in it."""
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            if self._conn is None:
                self._conn = self._connect()
            cursor = self._conn.cursor()
            try:
                if self._sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
                alone = len(batch) == 1
                done = not alone and self._set_based(cursor, batch, outcomes)
                if not done:
                    for job in batch:
                        outcomes.append(self._one(cursor, job, alone=alone))
                if alone and outcomes[0][1] is not None:
                    self._rollback(cursor)
                    return outcomes
                if self._sqlite:
                    cursor.execute("COMMIT")
                else:
                    self._conn.commit()
            finally:
                cursor.close()
        except BaseException as error:
            self._abandon()
            failure: BaseException = (
                StoreBusy(str(error))
                if isinstance(error, Exception) and self._busy(error)
                else error
            )
            if failure is not error:
                failure.__cause__ = error
            else:
                log.exception("a write transaction failed")
            return [(None, failure)] * len(batch)
        return outcomes

    def _set_based(self, cursor: Any, batch: list[_Job], outcomes: list[Outcome]) -> bool:
        """The whole batch in a few statements; False (all undone, transaction open again)
        when it must be done job by job instead."""
        if self._batch_work is None:
            return False
        try:
            outcomes.extend(self._batch_work(cursor, [job.request for job in batch]))
            return True
        except Exception as error:
            if self._busy(error):
                raise
            if not isinstance(error, Fallback):
                log.debug("set-based batch fell back: %r", error)
        self._rollback(cursor)
        if self._sqlite:
            cursor.execute("BEGIN IMMEDIATE")
        return False

    def _one(self, cursor: Any, job: _Job, *, alone: bool) -> tuple[Any, BaseException | None]:
        """One job; in a shared transaction inside its own savepoint."""
        if alone:
            try:
                return job.work(cursor), None
            except Exception as error:
                if self._busy(error):
                    raise
                return None, error
        cursor.execute("SAVEPOINT daycase_job")
        try:
            result = job.work(cursor)
        except Exception as error:
            if self._busy(error):
                raise
            cursor.execute("ROLLBACK TO SAVEPOINT daycase_job")
            cursor.execute("RELEASE SAVEPOINT daycase_job")
            return None, error
        cursor.execute("RELEASE SAVEPOINT daycase_job")
        return result, None

    def _rollback(self, cursor: Any) -> None:
        if self._sqlite:
            if self._conn.in_transaction:
                cursor.execute("ROLLBACK")
        else:
            self._conn.rollback()

    def _abandon(self) -> None:
        """After a failed transaction: roll back, and start from a fresh connection."""
        if self._conn is None:
            return
        try:
            if self._sqlite:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            else:
                self._conn.rollback()
        except Exception:
            self._disconnect()
            return
        if not self._sqlite:
            # A PostgreSQL connection that timed out or lost its server may be unusable.
            self._disconnect()

    def _disconnect(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                log.debug("closing the writer connection failed", exc_info=True)
            self._conn = None

    @staticmethod
    def _answer(batch: list[_Job], outcomes: list[tuple[Any, BaseException | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, Any, BaseException | None]]]
        by_loop = {}
        for job, (result, error) in zip(batch, outcomes, strict=True):
            if job.future is not None:
                if error is None:
                    job.future.set_result(result)
                else:
                    job.future.set_exception(error)
            elif job.loop is not None:
                by_loop.setdefault(job.loop, []).append((job, result, error))
        for loop, answers in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, answers)
            except RuntimeError:
                log.warning("an event loop closed before its writes were answered")


def _settle(answers: list[tuple[_Job, Any, BaseException | None]]) -> None:
    """On the loop: wake every awaiting caller of one commit at once."""
    for job, result, error in answers:
        waiter = job.waiter
        if waiter is None or waiter.done():  # a caller that was cancelled meanwhile
            continue
        if error is None:
            waiter.set_result(result)
        else:
            waiter.set_exception(error)
