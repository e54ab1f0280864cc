"""The store contract run against `MemoryEventStore` (store tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from daycase.store.base import EventStore
from daycase.store.factory import open_store
from daycase.store.memory import MemoryEventStore
from tests.contracts.projection_contract import ProjectionContract
from tests.contracts.store_contract import StoreContract


class TestMemoryStore(StoreContract, ProjectionContract):
    def make_store(self, tmp_path: Path) -> Iterator[EventStore]:
        store = open_store("memory://")
        assert isinstance(store, MemoryEventStore)
        yield store
        store.close()
