"""Demo seeding never touches a real database (issue 8, part 3).

`serve --demo` used to re-enable disabled accounts and reset the password of any account
named like a demo user. The demo now seeds only an empty database, or one an earlier demo
made (its marker in the audit log) whose users are all the demo's own; any other database
is refused with a clear message and exit 1, before any migration, and nothing changes.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from rich.console import Console

from daycase.config import Settings
from daycase.demo import DEMO_USERS, DemoRefused, seed_server_demo
from daycase.engine.commands import Actor, OpenCase, Refusal
from daycase.services.runtime import open_runtime
from daycase.store.factory import migrate
from tests.support.cli import daycase as run_daycase
from tests.support.clock import OFFSET_ENV
from tests.support.databases import BACKENDS, database
from tests.support.server import free_port

PASSWORD = "a centre's own long password"


def daycase(*args: str) -> subprocess.CompletedProcess[str]:
    return run_daycase(*args, clean=True, env=OFFSET_ENV)


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def snapshot(url: str) -> dict[str, object]:
    """Everything the demo could have changed: users with their hashes, cases, events."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            users = conn.execute(
                sa.text("SELECT name, role, password_hash, disabled FROM users ORDER BY name")
            ).all()
            counts = {
                table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("cases", "events", "tokens", "audit")
            }
        return {"users": [tuple(u) for u in users], **counts}
    finally:
        engine.dispose()


def a_centre(url: str) -> None:
    """A centre's database: its own nurse (named like the demo's, and disabled), a manager."""
    runtime = open_runtime(Settings(db=url))
    try:
        runtime.accounts.add_user("nurse", role="nurse", password=PASSWORD)
        runtime.accounts.add_user("gail", role="admin", password=PASSWORD)
        runtime.accounts.disable("nurse")
    finally:
        runtime.close()


def test_serve_demo_refuses_a_centres_database_and_changes_nothing(db: str) -> None:
    a_centre(db)
    before = snapshot(db)
    out = daycase("serve", "--demo", "--db", db, "--port", str(free_port()))
    assert out.returncode == 1, out.stdout + out.stderr
    message = " ".join((out.stdout + out.stderr).split())
    assert "demo refused" in message
    assert "did not create" in message
    assert "another --db" in message
    assert snapshot(db) == before


def test_the_terminal_demo_refuses_it_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'centre.db'}"
    migrate(url)
    a_centre(url)
    before = snapshot(url)
    out = daycase("demo", "--db", str(tmp_path / "centre.db"))
    assert out.returncode == 1, out.stdout + out.stderr
    assert snapshot(url) == before


def test_a_database_with_cases_but_no_users_is_refused(tmp_path: Path) -> None:
    """Cases the demo did not make (no marker) are a centre's, whoever opened them."""
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    runtime = open_runtime(Settings(db=url))
    try:
        opened = runtime.cases.open_case(
            OpenCase(
                actor=Actor("desk", "front_desk"),
                pathway_id="kyphoplasty",
                mrn="H-1",
                given_name="Ada",
                family_name="Lane",
                birth_date=date(1944, 5, 17),
                sex="female",
                levels=["L1"],
                scheduled_start=runtime.now() + timedelta(hours=1),
            )
        )
        assert not isinstance(opened, Refusal), opened
    finally:
        runtime.close()
    before = snapshot(url)
    assert before["users"] == []
    with pytest.raises(DemoRefused, match="did not create"):
        seed_server_demo(Settings(db=url), console=Console(file=io.StringIO()))
    assert snapshot(url) == before


def test_the_demo_seeds_a_fresh_database_and_may_seed_its_own_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    settings = Settings(
        db=url, clock_offset_seconds=float(OFFSET_ENV["DAYCASE_CLOCK_OFFSET_SECONDS"])
    )
    quiet = Console(file=io.StringIO())
    migrate(url)
    first = seed_server_demo(settings, console=quiet)
    assert [(name, role) for name, role, _ in first] == DEMO_USERS
    second = seed_server_demo(settings, console=quiet)  # its own database: a new day's run
    assert {p for *_, p in second}.isdisjoint({p for *_, p in first})
    # Once a user of the centre's own is added, the demo keeps off.
    runtime = open_runtime(settings)
    try:
        runtime.accounts.add_user("rosa", role="nurse", password=PASSWORD)
    finally:
        runtime.close()
    before = snapshot(url)
    with pytest.raises(DemoRefused, match="rosa"):
        seed_server_demo(settings, console=quiet)
    assert snapshot(url) == before


def test_the_refusal_happens_before_any_migration(tmp_path: Path) -> None:
    """An old database is refused as it stands: the demo never upgrades a centre's schema."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(url)
    a_centre(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0004'"))
    engine.dispose()
    out = daycase("serve", "--demo", "--db", url, "--port", str(free_port()))
    assert out.returncode == 1, out.stdout + out.stderr
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0004"
    engine.dispose()
