"""Settings (config room): read once in the entry point from `DAYCASE_*` variables and passed down.

Each setting has a name, a default and a help text; docs/settings.md lists them all and a
test fails when one is missing there.
"""

from __future__ import annotations

from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tzlocal
from pydantic import Field, field_validator
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
        description=(
            "SQLAlchemy URL of the event store, or a SQLite file path; daycase.db by default."
        ),
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
    desk_roles: list[str] = Field(
        default=["front_desk"],
        description=(
            "Staff roles that read the schedule, the patients' details and the steps they "
            "record themselves, but no other clinical detail (minimum necessary), as JSON: "
            '["front_desk"].'
        ),
    )
    report_roles: list[str] = Field(
        default=["proceduralist", "anesthesia"],
        description=(
            "Clinical leads who may read the quality reports (read-only) besides the admins, "
            'as JSON: ["proceduralist", "anesthesia"].'
        ),
    )
    host: str = Field(default="127.0.0.1", description="Address `daycase serve` listens on.")
    port: int = Field(default=8000, description="Port `daycase serve` listens on.")
    public_url: str | None = Field(
        default=None,
        description=(
            "The address staff and screens use to reach the server, e.g. "
            "https://daycase.example.org; links the server hands out (screen links) start "
            "with it. Unset: http://HOST:PORT (the machine's name when HOST is 0.0.0.0), "
            "never the address a request claims."
        ),
    )
    forwarded_allow_ips: list[str] = Field(
        default=["127.0.0.1", "::1"],
        description=(
            "Addresses of reverse proxies whose X-Forwarded-Proto and X-Forwarded-For "
            'headers `daycase serve` believes, as JSON: ["10.0.0.5"]; "*" trusts any.'
        ),
    )
    token_ttl_hours: float = Field(
        default=12.0, gt=0, description="How long a sign-in lasts: one shift."
    )
    session_idle_minutes: float = Field(
        default=15.0,
        gt=0,
        description=(
            "A sign-in (page or API token) unused this long is refused as expired, within "
            "the shift's `token_ttl_hours`: the automatic logoff."
        ),
    )
    login_slow_after: int = Field(
        default=3,
        ge=1,
        description="Failed sign-ins for one user name (or one address) before answers slow down.",
    )
    login_lock_after: int = Field(
        default=5,
        ge=1,
        description=(
            "Failed sign-ins for one user name from browsers without its device cookie before "
            "such browsers are refused for it (429); browsers it signed in on before still can."
        ),
    )
    login_address_lock_after: int = Field(
        default=20,
        ge=1,
        description=(
            "Failed sign-ins (or patient look-ups) from one client address, without a device "
            "cookie, before that address is refused for a while (429)."
        ),
    )
    login_lock_minutes: float = Field(
        default=15.0,
        gt=0,
        description=(
            "How long a lock lasts (429 with Retry-After); failures are also forgiven at "
            "this pace (a quiet spell this long clears them)."
        ),
    )
    device_cookie_days: float = Field(
        default=90.0,
        gt=0,
        description="How long a browser stays trusted for a user after signing in on it.",
    )
    hash_workers: int = Field(
        default=2,
        ge=1,
        description="Threads that check passwords (argon2); requests never wait behind them.",
    )
    hash_queue: int = Field(
        default=16,
        ge=0,
        description=(
            "Sign-ins that may wait for a password-checking thread; beyond them the server "
            "answers 503 with Retry-After at once."
        ),
    )
    max_body_bytes: int = Field(
        default=64 * 1024, gt=0, description="Largest request body accepted (413 above)."
    )
    heartbeat_seconds: float = Field(
        default=15.0, gt=0, description="Seconds between heartbeats on the live stream."
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        description=(
            "Most connections `daycase serve` holds open (lowered to fit the process's file "
            "descriptors); when full, the one waiting longest on its client is closed."
        ),
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description=(
            "Seconds a client has to send a request's line and headers; then 408 and closed."
        ),
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a client has to send a request's body once its headers are in.",
    )
    keep_alive_seconds: int = Field(
        default=5,
        ge=1,
        description="Seconds an idle connection is kept open for the client's next request.",
    )
    max_header_bytes: int = Field(
        default=32 * 1024,
        gt=0,
        description="Largest request line and headers accepted (431 above).",
    )
    eta_spread_minutes: float = Field(
        default=30.0,
        ge=0,
        description=(
            "Boards show a patient's estimated next time (in recovery, ready to go home) "
            "only when its 80 % interval is at most this many minutes wide; 0 shows none."
        ),
    )
    token_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a process trusts a checked token before asking the database again.",
    )
    anchor_key_file: str | None = Field(
        default=None,
        description=(
            "The anchor key file (made by `daycase anchor --new-key`); with `anchor_dir`, the "
            "server writes signed checkpoints of every chain head. Keep it off the database's "
            "disk and readable by the server's user only."
        ),
    )
    anchor_dir: str | None = Field(
        default=None,
        description="Folder the server writes its signed checkpoints to (copy it off the machine).",
    )
    anchor_every_minutes: float = Field(
        default=15.0,
        gt=0,
        description="Minutes between the server's checkpoints (one more at start and at stop).",
    )
    busy_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        description=(
            "How long a request waits for a lock another program holds on the database "
            "(SQLite's busy timeout, PostgreSQL's lock_timeout) before it answers 503 busy."
        ),
    )
    statement_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Longest a PostgreSQL statement may run for a request (statement_timeout).",
    )
    clock_offset_seconds: float = Field(
        default=0.0,
        description=(
            "Seconds added to the server's clock. For tests and training days only (a test "
            "suite runs the server just before the centre's midnight); leave 0 in a centre."
        ),
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """An IANA zone this machine knows; a typo would move every 'today'."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"{value!r} is not a known IANA time zone (e.g. America/Chicago)"
            ) from exc
        return value

    @field_validator("db")
    @classmethod
    def _db_url(cls, value: str) -> str:
        """A plain path means a SQLite file, as `--db` takes it."""
        if not value.strip():
            raise ValueError("must be a database URL or a SQLite file path")
        return sqlite_url(value.strip())

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        """An http(s) address with a host; kept without its trailing slash."""
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an http:// or https:// address, e.g. https://daycase.example.org"
            )
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.strip().rstrip("/")


def sqlite_url(path: str) -> str:
    """A SQLAlchemy URL for a SQLite file path, or the URL itself if one was given."""
    return path if "://" in path else f"sqlite:///{path}"
