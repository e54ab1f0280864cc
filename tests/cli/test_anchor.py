"""`daycase anchor` and `daycase verify --anchors` as an operator runs them (CLI tests).

Real processes on real databases (SQLite and PostgreSQL): a key file made with safe
permissions, a checkpoint written, then the history changed with plain SQL the way
someone with write access to the database could; verify names what changed.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from rich.console import Console

from daycase.demo import run_demo
from tests.support.cli import daycase
from tests.support.databases import BACKENDS, database, demo_database
from tests.support.server import run_server
from tests.support.tamper import delete_case, reseal_case, set_field

DAY = date(2026, 11, 26)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with demo_database(request.param, tmp_path, patients=3, seed=11) as found:
        yield found


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "anchor.key"
    out = daycase("anchor", "--new-key", str(path))
    assert out.returncode == 0, out.stderr
    assert "made anchor key" in out.stdout
    return path


def case_ids(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(sa.text("SELECT case_id FROM cases ORDER BY case_id")).scalars()
            )
    finally:
        engine.dispose()


def check_in_seq(url: str, case_id: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            seq = conn.execute(
                sa.text("SELECT seq FROM events WHERE case_id = :c AND body LIKE :s"),
                {"c": case_id, "s": '%"step":"check_in"%'},
            ).scalar_one()
    finally:
        engine.dispose()
    assert isinstance(seq, int)
    return seq


def test_a_new_key_is_readable_by_its_owner_only_and_never_overwritten(key: Path) -> None:
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_text(encoding="ascii").strip()) == 64
    before = key.read_bytes()
    again = daycase("anchor", "--new-key", str(key))
    assert again.returncode == 2
    assert "already exists; a key is never overwritten" in again.stderr
    assert key.read_bytes() == before


def test_a_re_sealed_and_a_deleted_case_are_named_untouched_ones_pass(
    url: str, key: Path, tmp_path: Path
) -> None:
    anchors = tmp_path / "anchors"
    out = daycase("anchor", "--key", str(key), "--out", str(anchors), "--db", url)
    assert out.returncode == 0, out.stderr
    assert "3 cases and the audit log" in out.stdout
    checked = daycase("verify", "--db", url, "--anchors", str(anchors), "--key", str(key))
    assert checked.returncode == 0, checked.stderr
    assert "ok 3 cases, every hash chain intact" in checked.stdout
    assert "still pass through what 1 checkpoints anchored" in checked.stdout

    resealed, deleted, _ = case_ids(url)
    seq = check_in_seq(url, resealed)
    reseal_case(url, resealed, seq=seq, edit=set_field("check_in", "consent_signed", False))
    delete_case(url, deleted)

    plain = daycase("verify", "--db", url)
    assert plain.returncode == 0, plain.stderr  # the chains alone cannot tell
    assert "without them verify cannot see a history" in plain.stdout
    found = daycase("verify", "--db", url, "--anchors", str(anchors), "--key", str(key))
    assert found.returncode == 1
    assert f"case {resealed} (seq " in found.stderr
    assert "history was re-sealed or edited at or before seq" in found.stderr
    assert f"case {deleted} (seq " in found.stderr
    assert "the case was deleted: checkpoint-" in found.stderr
    assert "2 of 2 cases fail verification" in found.stderr


def test_a_forged_checkpoint_is_named(url: str, key: Path, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors"
    assert daycase("anchor", "--key", str(key), "--out", str(anchors), "--db", url).returncode == 0
    [real] = list(anchors.glob("*.json"))
    raw = json.loads(real.read_text(encoding="utf-8"))
    raw["cases"][0]["last_seq"] += 5
    (anchors / "checkpoint-edited.json").write_text(json.dumps(raw), encoding="utf-8")

    out = daycase("verify", "--db", url, "--anchors", str(anchors), "--key", str(key))
    assert out.returncode == 1
    assert (
        "anchor file checkpoint-edited.json: its signature does not match: the file was "
        "forged or edited" in out.stderr
    )
    assert "1 files in the anchor folder cannot be trusted" in out.stderr


def test_anchors_need_a_key_and_a_folder_with_checkpoints(
    url: str, key: Path, tmp_path: Path
) -> None:
    no_key = daycase("verify", "--db", url, "--anchors", str(tmp_path))
    assert no_key.returncode == 2
    assert "--anchors needs --key FILE" in no_key.stderr
    empty = daycase("verify", "--db", url, "--anchors", str(tmp_path), "--key", str(key))
    assert empty.returncode == 2
    assert f"there are no checkpoints in {tmp_path}" in empty.stderr


def test_verify_says_plainly_when_there_is_nothing_to_verify(tmp_path: Path) -> None:
    missing = tmp_path / "no-such.db"
    out = daycase("verify", "--db", str(missing))
    assert out.returncode == 2
    assert f"there is no database file at {missing}" in out.stderr
    assert not missing.exists()

    with database("sqlite", tmp_path) as empty:
        out = daycase("verify", "--db", empty)
    assert out.returncode == 2
    assert "holds 0 cases and 0 events. Is this the right file?" in out.stderr
    assert "ok" not in out.stdout


def test_a_plain_copy_of_a_live_file_is_not_passed_as_ok(tmp_path: Path) -> None:
    """The copy that held 0 events while `verify` said "ok 0 cases"."""
    with database("sqlite", tmp_path) as url:
        live = Path(url.removeprefix("sqlite:///"))
        keeper = sqlite3.connect(live)  # a server's connection: the -wal is not folded in
        keeper.execute("SELECT count(*) FROM sqlite_master").fetchone()
        try:
            run_demo(
                url=url,
                patients=2,
                seed=3,
                tz_name="America/New_York",
                today=DAY,
                console=Console(quiet=True),
            )
            assert Path(f"{live}-wal").stat().st_size > 0
            copy = tmp_path / "copied.db"
            shutil.copyfile(live, copy)
        finally:
            keeper.close()
    out = daycase("verify", "--db", str(copy))
    assert out.returncode == 2
    assert "Is this the right file?" in out.stderr
    assert "daycase backup" in out.stderr


def test_the_server_writes_checkpoints_by_itself(tmp_path: Path, key: Path) -> None:
    anchors = tmp_path / "anchors"
    env = {
        "DAYCASE_ANCHOR_KEY_FILE": str(key),
        "DAYCASE_ANCHOR_DIR": str(anchors),
        "DAYCASE_ANCHOR_EVERY_MINUTES": "0.01",
    }
    with database("sqlite", tmp_path) as url, run_server(url, tmp_path, env=env) as server:
        deadline = time.monotonic() + 20
        while len(list(anchors.glob("*.json"))) < 3:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/openapi.json").status_code == 200
    out = daycase("verify", "--db", url, "--anchors", str(anchors), "--key", str(key))
    assert out.returncode == 2  # no case yet, but every checkpoint's signature held
    assert "cannot be trusted" not in out.stderr


def test_a_half_configured_server_refuses_to_start(tmp_path: Path, key: Path) -> None:
    with database("sqlite", tmp_path) as url:
        out = subprocess.run(
            [sys.executable, "-m", "daycase", "serve", "--db", url, "--port", "0"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "DAYCASE_ANCHOR_KEY_FILE": str(key)},
            check=False,
        )
    assert out.returncode != 0
    assert "set both DAYCASE_ANCHOR_KEY_FILE and DAYCASE_ANCHOR_DIR" in out.stdout + out.stderr
