"""Settings and small inputs named plainly: DAYCASE_DB as a path, bad settings, screen labels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from daycase.config import Settings
from daycase.services.displays import LabelRefused, clean_label


def test_a_plain_path_in_daycase_db_means_a_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAYCASE_DB", "/var/lib/daycase/centre.db")
    assert Settings().db == "sqlite:////var/lib/daycase/centre.db"
    monkeypatch.setenv("DAYCASE_DB", "postgresql+psycopg://daycase@db/daycase")
    assert Settings().db == "postgresql+psycopg://daycase@db/daycase"


def test_an_empty_daycase_db_is_refused_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAYCASE_DB", " ")
    with pytest.raises(ValidationError, match="db"):
        Settings()


def test_the_command_names_a_setting_that_does_not_parse() -> None:
    env = {**os.environ, "DAYCASE_DB": " "}
    done = subprocess.run(
        [sys.executable, "-m", "daycase", "verify"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "setting DAYCASE_DB" in done.stderr
    assert "must be a database URL or a SQLite file path" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_misspelt_desk_role_stops_the_server_before_it_serves(tmp_path: Path) -> None:
    """A desk role that is no role would quietly give the front desk the whole record."""
    env = {**os.environ, "DAYCASE_DESK_ROLES": '["frontdesk"]'}
    done = subprocess.run(
        [sys.executable, "-m", "daycase", "serve", "--db", str(tmp_path / "d.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "setting DAYCASE_DESK_ROLES: frontdesk is no role" in done.stderr
    assert not (tmp_path / "d.db").exists()


def test_an_unknown_time_zone_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAYCASE_TIMEZONE", "Mars/Base")
    with pytest.raises(ValidationError, match="not a known IANA time zone"):
        Settings()


@pytest.mark.parametrize("label", ["Ward\x00A", "Ward\x1b[31m", "Ward\nA"])
def test_a_screen_label_refuses_control_characters(label: str) -> None:
    """A NUL was a 500 on PostgreSQL; escapes and line breaks reached the admin's page."""
    with pytest.raises(LabelRefused, match="control characters"):
        clean_label(label)
