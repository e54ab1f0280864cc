"""Store faults that the API and the pages answer alike: busy, try again (service room).

A database locked by another program, a PostgreSQL lock or statement timeout, or a lost
connection store nothing; the caller is told so in a few seconds (503 with Retry-After)
instead of waiting on the lock, and the same write may be sent again.
"""

from __future__ import annotations

from daycase.store.base import StoreBusy
from daycase.store.sql import is_busy_error

__all__ = ["RETRY_AFTER_S", "StoreBusy", "busy_message", "is_store_busy"]

BUSY_MESSAGE = (
    "The record is busy (another program is using the database). Nothing was saved; "
    "try again in a moment."
)
BUSY_READ_MESSAGE = (
    "The record is busy (another program is using the database); try again in a moment."
)


def busy_message(method: str) -> str:
    """Say "nothing was saved" only to a request that tried to save something."""
    return BUSY_READ_MESSAGE if method in ("GET", "HEAD") else BUSY_MESSAGE


RETRY_AFTER_S = 2


def is_store_busy(error: BaseException) -> bool:
    """Whether an error means "the store is busy or away", not a fault in the request."""
    return isinstance(error, StoreBusy) or is_busy_error(error)
