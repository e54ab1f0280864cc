"""PostgreSQL LISTEN/NOTIFY: tell every server process which case changed (store room).

The SQL store emits `pg_notify('daycase_cases', case_id)` inside each append's
transaction, so a notification goes out exactly when an entry commits. A store with
subscribers (a server process) runs one listener thread that hands them the case ids.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import URL, make_url

CHANNEL = "daycase_cases"
log = logging.getLogger(__name__)


def libpq_url(sqlalchemy_url: str | URL) -> str:
    """`postgresql+psycopg://…` as a plain libpq connection string."""
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


class PgListener:
    def __init__(self, url: str | URL, on_case: Callable[[str], None]) -> None:
        self._conninfo = libpq_url(url)
        self._on_case = on_case
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="daycase-pg-listen", daemon=True)

    def start(self, *, wait_s: float = 10.0) -> None:
        self._thread.start()
        self._ready.wait(wait_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._ready.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5, stop_after=64):
                            self._on_case(note.payload)
            except Exception:
                # Whatever went wrong (the connection, or handing a case on), the thread
                # must live on: without it this process would miss every other's writes.
                log.exception("live-update listener failed; reconnecting")
                self._stop.wait(1)
