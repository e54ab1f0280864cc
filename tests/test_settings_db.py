"""`DAYCASE_DB` takes a SQLite file path as `--db` does (a path there was a traceback)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from daycase.config import Settings


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
