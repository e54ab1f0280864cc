"""Display links for waiting-room screens: made and revoked by an admin (service room).

A link is a long random token shown once; only its SHA-256 is stored, so the database
alone cannot open a screen. A revoked link stops working at once. The link starts with
the centre's configured address, never the Host header of the request that made it: a
forged Host would otherwise hand the admin a link to someone else's server.
"""

from __future__ import annotations

import hashlib
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import quote

from daycase.config import Settings
from daycase.engine.text import identifier_problem
from daycase.engine.validate import has_control_chars
from daycase.services.cases import Clock
from daycase.store.displays import DisplayLinkRow, SqlDisplayLinks

DEFAULT_LABEL = "Waiting room"
MAX_LABEL = 100


@dataclass(frozen=True, slots=True)
class NewDisplayLink:
    token: str
    link_id: str


class LabelRefused(ValueError):
    """A screen label that cannot be shown as typed; the message says why, in plain words."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def public_address(settings: Settings) -> str:
    """Where staff and screens reach the server: `public_url`, else `http://HOST:PORT`.

    Listening on every address (0.0.0.0 or ::) names no address a screen could use, so
    the machine's own name stands in for it.
    """
    if settings.public_url:
        return settings.public_url
    host = settings.host
    if host in ("", "0.0.0.0", "::"):
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def display_url(settings: Settings, token: str) -> str:
    """The address of one screen link, to show the admin once."""
    return f"{public_address(settings)}/display/{quote(token)}"


def clean_label(label: str) -> str:
    """The label as stored, or `LabelRefused` (no control, invisible or direction-changing
    character: a label is shown to every admin)."""
    text = label.strip() or DEFAULT_LABEL
    if len(text) > MAX_LABEL:
        raise LabelRefused(f"at most {MAX_LABEL} characters")
    if has_control_chars(text):
        raise LabelRefused("must not contain control characters")
    problem = identifier_problem(text)
    if problem:
        raise LabelRefused(problem)
    return text


class DisplayService:
    def __init__(self, links: SqlDisplayLinks, *, clock: Clock) -> None:
        self.links = links
        self.clock = clock

    def create(self, *, label: str, created_by: str) -> NewDisplayLink:
        """A new link (`LabelRefused` for a label that cannot be stored as typed)."""
        text = clean_label(label)
        token = secrets.token_urlsafe(32)
        digest = _hash(token)
        self.links.add(
            link_hash=digest,
            label=text,
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
