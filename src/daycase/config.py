"""Settings (config room): read once in the entry point from `DAYCASE_*` variables and passed down.

Each setting has a name, a default and a help text; the docs list them all (a test checks).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DAYCASE_", extra="ignore")

    db: str = Field(
        default="sqlite:///daycase.db",
        description="SQLAlchemy URL of the event store; a SQLite file by default.",
    )
    timezone: str = Field(
        default="America/New_York",
        description="The centre's timezone (IANA name): what 'today' means for boards.",
    )


def sqlite_url(path: str) -> str:
    """A SQLAlchemy URL for a SQLite file path, or the URL itself if one was given."""
    return path if "://" in path else f"sqlite:///{path}"
