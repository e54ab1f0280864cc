"""Display links for waiting-room screens: made and revoked by an admin (service room).

A link is a long random token shown once; only its SHA-256 is stored, so the database
alone cannot open a screen. A revoked link stops working at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from daycase.services.cases import Clock
from daycase.store.displays import DisplayLinkRow, SqlDisplayLinks


@dataclass(frozen=True, slots=True)
class NewDisplayLink:
    token: str
    link_id: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class DisplayService:
    def __init__(self, links: SqlDisplayLinks, *, clock: Clock) -> None:
        self.links = links
        self.clock = clock

    def create(self, *, label: str, created_by: str) -> NewDisplayLink:
        token = secrets.token_urlsafe(32)
        digest = _hash(token)
        self.links.add(
            link_hash=digest,
            label=label.strip() or "Waiting room",
            created_by=created_by,
            created_at=self.clock(),
        )
        return NewDisplayLink(token=token, link_id=digest[:16])

    def valid(self, token: str) -> bool:
        row = self.links.get(_hash(token))
        return row is not None and row.revoked_at is None

    def all(self) -> list[DisplayLinkRow]:
        return self.links.all()

    def revoke(self, link_id: str) -> bool:
        """Revoke by the short id shown to the admin (the first 16 hex digits of the hash)."""
        for row in self.links.all():
            if row.link_hash.startswith(link_id) and row.revoked_at is None:
                return self.links.revoke(row.link_hash, at=self.clock())
        return False
