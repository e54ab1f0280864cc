"""Settings (config room): read once in the entry point from `DAYCASE_*` variables and passed down.

Each setting has a name, a default and a help text; docs/settings.md lists them all and a
test fails when one is missing there.
"""

from __future__ import annotations

from zoneinfo import ZoneInfoNotFoundError

import tzlocal
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def machine_timezone() -> str:
    """The IANA name of the machine's zone (UTC when it cannot be told)."""
    try:
        return str(tzlocal.get_localzone_name() or "UTC")
    except (ZoneInfoNotFoundError, LookupError, ValueError, OSError):
        return "UTC"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DAYCASE_", extra="ignore")

    db: str = Field(
        default="sqlite:///daycase.db",
        description="SQLAlchemy URL of the event store; a SQLite file by default.",
    )
    timezone: str = Field(
        default_factory=machine_timezone,
        description=(
            "The centre's timezone (IANA name): what 'today' means for boards; the "
            "machine's own zone unless set."
        ),
    )
    centre_name: str = Field(
        default="the surgery center",
        description="The centre's name, on every patient page and the going-home sheet.",
    )
    centre_phone: str = Field(
        default="the phone number your care team gave you",
        description="The number patients call with a concern, on every patient page.",
    )
    default_pathway: str = Field(
        default="kyphoplasty",
        description="The pathway new cases are opened on (its latest version).",
    )
    pathway_files: list[str] = Field(
        default=[],
        description=(
            "Pathway files the server knows besides the built-in ones, as JSON: "
            '["/etc/daycase/vertebroplasty-1.0.yaml"].'
        ),
    )
    admin_roles: list[str] = Field(
        default=["admin"],
        description=(
            'Roles that manage the centre (users, screen links, audit), as JSON: ["admin"].'
        ),
    )
    host: str = Field(default="127.0.0.1", description="Address `daycase serve` listens on.")
    port: int = Field(default=8000, description="Port `daycase serve` listens on.")
    token_ttl_hours: float = Field(
        default=12.0, gt=0, description="How long a sign-in lasts: one shift."
    )
    login_slow_after: int = Field(
        default=3, ge=1, description="Failed sign-ins for one user name before answers slow down."
    )
    login_lock_after: int = Field(
        default=5, ge=1, description="Failed sign-ins for one user name before it is locked."
    )
    login_lock_minutes: float = Field(
        default=15.0, gt=0, description="How long a locked user name is refused (429)."
    )
    max_body_bytes: int = Field(
        default=64 * 1024, gt=0, description="Largest request body accepted (413 above)."
    )
    heartbeat_seconds: float = Field(
        default=15.0, gt=0, description="Seconds between heartbeats on the live stream."
    )
    token_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a process trusts a checked token before asking the database again.",
    )
    clock_offset_seconds: float = Field(
        default=0.0,
        description=(
            "Seconds added to the server's clock. For tests and training days only (a test "
            "suite runs the server just before the centre's midnight); leave 0 in a centre."
        ),
    )


def sqlite_url(path: str) -> str:
    """A SQLAlchemy URL for a SQLite file path, or the URL itself if one was given."""
    return path if "://" in path else f"sqlite:///{path}"
