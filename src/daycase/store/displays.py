"""Display links: revocable long random links for waiting-room screens (store room)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from daycase.store.sql import reader
from daycase.store.tables import display_links_table as links


@dataclass(frozen=True, slots=True)
class DisplayLinkRow:
    link_hash: str
    label: str
    created_by: str
    created_at: str
    revoked_at: str | None


class SqlDisplayLinks:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        # Reads opt out of SQLite's BEGIN IMMEDIATE: a sign-in check or a screen link must
        # never wait on (or be refused for) another program's write lock.
        self._reader = reader(engine)

    def add(self, *, link_hash: str, label: str, created_by: str, created_at: datetime) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                links.insert(),
                {
                    "link_hash": link_hash,
                    "label": label,
                    "created_by": created_by,
                    "created_at": created_at.isoformat(),
                    "revoked_at": None,
                },
            )

    def get(self, link_hash: str) -> DisplayLinkRow | None:
        with self._reader.connect() as conn:
            row = conn.execute(sa.select(links).where(links.c.link_hash == link_hash)).first()
        return DisplayLinkRow(*row) if row else None

    def all(self) -> list[DisplayLinkRow]:
        with self._reader.connect() as conn:
            rows = conn.execute(sa.select(links).order_by(links.c.created_at)).all()
        return [DisplayLinkRow(*r) for r in rows]

    def revoke(self, link_hash: str, *, at: datetime) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(
                links.update()
                .where(links.c.link_hash == link_hash, links.c.revoked_at.is_(None))
                .values(revoked_at=at.isoformat())
            )
        return result.rowcount == 1
