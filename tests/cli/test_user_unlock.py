"""`daycase user unlock NAME`: the admin's way to let a locked-out user in at once (issue 8)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from daycase.config import Settings
from daycase.services.accounts import Client, SignInRefused, Token
from daycase.services.runtime import open_runtime
from tests.cli.test_users import daycase
from tests.support.databases import BACKENDS, database

PASSWORD = "long enough secret"
STRANGER = Client("203.0.113.9")
NEW_LAPTOP = Client("198.51.100.4")


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    backend: str = request.param
    with database(backend, tmp_path_factory.mktemp(backend)) as url:
        yield url


def sign_in(db: str, name: str, password: str, client: Client) -> Token | SignInRefused:
    runtime = open_runtime(Settings(db=db, login_lock_after=3, login_slow_after=10))
    try:
        return runtime.accounts.sign_in(name, password, client=client)
    finally:
        runtime.close()


def audit_actions(db: str) -> list[tuple[str, str, str]]:
    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT action, user_name, detail FROM audit ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    return [(r[0], r[1], r[2]) for r in rows]


def test_unlock_lets_a_locked_out_user_sign_in_from_a_new_computer(db: str) -> None:
    assert (
        daycase("user", "add", "amy", "--role", "nurse", "--db", db, stdin=PASSWORD).returncode == 0
    )
    for _ in range(3):
        assert isinstance(sign_in(db, "amy", "not her password", STRANGER), SignInRefused)
    locked = sign_in(db, "amy", PASSWORD, NEW_LAPTOP)
    assert isinstance(locked, SignInRefused)
    assert locked.locked

    out = daycase("user", "unlock", "amy", "--db", db)
    assert out.returncode == 0, out.stderr
    assert "unlocked amy" in out.stdout
    assert isinstance(sign_in(db, "amy", PASSWORD, NEW_LAPTOP), Token)

    actions = audit_actions(db)
    assert [a[0] for a in actions if a[1] == "amy"] == [
        "sign_in_refused",
        "sign_in_refused",
        "sign_in_refused",
        "sign_in_locked",
        "sign_in_unlocked",
        "sign_in",
    ]
    unlocked = next(a for a in actions if a[0] == "sign_in_unlocked")
    assert unlocked[2].endswith("(command line)")


def test_unlock_says_when_nothing_was_locked_and_refuses_unknown_users(db: str) -> None:
    assert (
        daycase("user", "add", "bea", "--role", "nurse", "--db", db, stdin=PASSWORD).returncode == 0
    )
    out = daycase("user", "unlock", "bea", "--db", db)
    assert out.returncode == 0, out.stderr
    assert "no failed sign-ins were counted" in out.stdout
    unknown = daycase("user", "unlock", "nobody", "--db", db)
    assert unknown.returncode == 2
    assert "not unlocked: no user nobody" in unknown.stderr
