"""`daycase user add/list/disable` as an administrator runs them: real processes, both backends."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from daycase.config import Settings
from daycase.services.accounts import SignInRefused, Token
from daycase.services.runtime import open_runtime
from tests.support.cli import NEW_YORK
from tests.support.cli import daycase as run_daycase
from tests.support.databases import BACKENDS, database

PASSWORD = "long enough secret"


def daycase(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_daycase(*args, stdin=stdin, clean=True, env=NEW_YORK)


@pytest.fixture(scope="module", params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    backend: str = request.param
    with database(backend, tmp_path_factory.mktemp(backend)) as url:
        yield url


def sign_in(db: str, name: str, password: str) -> Token | SignInRefused:
    runtime = open_runtime(Settings(db=db))
    try:
        return runtime.accounts.sign_in(name, password)
    finally:
        runtime.close()


def users(db: str) -> dict[str, tuple[str, bool]]:
    """name → (role, disabled), as stored."""
    runtime = open_runtime(Settings(db=db))
    try:
        return {u.name: (u.role, u.disabled) for u in runtime.accounts.users()}
    finally:
        runtime.close()


def test_add_reads_the_password_from_stdin_and_the_user_can_sign_in(db: str) -> None:
    out = daycase("user", "add", "amy", "--role", "nurse", "--db", db, stdin=PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    assert "added amy (nurse)" in out.stdout
    assert PASSWORD not in out.stdout + out.stderr
    assert users(db)["amy"] == ("nurse", False)
    token = sign_in(db, "amy", PASSWORD)
    assert isinstance(token, Token)
    assert token.user.role == "nurse"
    assert isinstance(sign_in(db, "amy", PASSWORD + "x"), SignInRefused)


def test_a_password_keeps_its_inner_and_outer_spaces(db: str) -> None:
    spaced = "  two words  "
    out = daycase("user", "add", "ben", "--role", "viewer", "--db", db, stdin=spaced + "\r\n")
    assert out.returncode == 0, out.stderr
    assert isinstance(sign_in(db, "ben", spaced), Token)
    assert isinstance(sign_in(db, "ben", spaced.strip()), SignInRefused)


def test_list_shows_names_roles_and_state(db: str) -> None:
    for name, role in (("cleo", "anesthesia"), ("dan", "front_desk")):
        out = daycase("user", "add", name, "--role", role, "--db", db, stdin=PASSWORD)
        assert out.returncode == 0, out.stderr
    out = daycase("user", "list", "--db", db)
    assert out.returncode == 0, out.stderr
    lines = {line.split()[1]: line for line in out.stdout.splitlines() if line.count("│") > 2}
    assert "anesthesia" in lines["cleo"]
    assert "active" in lines["cleo"]
    assert "front_desk" in lines["dan"]
    assert PASSWORD not in out.stdout
    assert "argon2" not in out.stdout


def test_disable_ends_sign_ins_and_shows_in_the_list(db: str) -> None:
    assert (
        daycase("user", "add", "eve", "--role", "nurse", "--db", db, stdin=PASSWORD).returncode == 0
    )
    assert isinstance(sign_in(db, "eve", PASSWORD), Token)
    out = daycase("user", "disable", "eve", "--db", db)
    assert out.returncode == 0, out.stderr
    assert "disabled eve" in out.stdout
    assert users(db)["eve"] == ("nurse", True)
    assert isinstance(sign_in(db, "eve", PASSWORD), SignInRefused)
    listed = daycase("user", "list", "--db", db).stdout
    assert next(line for line in listed.splitlines() if " eve " in line).count("disabled") == 1


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with database("sqlite", tmp_path_factory.mktemp("checks")) as url:
        yield url


def refused(db: str, *args: str, stdin: str = "") -> str:
    """Run a user command that must fail: exit 2, no traceback, no user added or changed."""
    before = users(db)
    out = daycase("user", *args, "--db", db, stdin=stdin)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert users(db) == before
    return " ".join(out.stderr.split())


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        pytest.param(
            ("add", "fay", "--role", "surgeon"),
            PASSWORD,
            "role: must be one of admin, anesthesia, front_desk, nurse, proceduralist, viewer",
            id="bad-role",
        ),
        pytest.param(
            ("add", "fay", "--role", "nurse"), "short", "password: at least 12", id="short"
        ),
        pytest.param(("add", "fay", "--role", "nurse"), "", "password: at least 12", id="empty"),
        pytest.param(
            ("add", "f a y", "--role", "nurse"), PASSWORD, "user name: 1 to 64", id="name"
        ),
    ],
)
def test_a_bad_user_is_refused_before_the_database_with_exit_2(
    sqlite_db: str, args: tuple[str, ...], stdin: str, message: str
) -> None:
    # Checked before anything is stored, so one backend is enough.
    assert message in refused(sqlite_db, *args, stdin=stdin)


def test_disabling_an_unknown_user_exits_2(db: str) -> None:
    assert "not disabled: no user nobody" in refused(db, "disable", "nobody")


def test_a_duplicate_name_exits_2_and_keeps_the_first_user(db: str) -> None:
    assert (
        daycase("user", "add", "gus", "--role", "nurse", "--db", db, stdin=PASSWORD).returncode == 0
    )
    message = refused(db, "add", "gus", "--role", "admin", stdin="another password")
    assert "not added: user gus already exists" in message
    assert users(db)["gus"] == ("nurse", False)
    assert isinstance(sign_in(db, "gus", PASSWORD), Token)
