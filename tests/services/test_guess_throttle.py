"""Family-code look-ups share the sign-in throttle: counted per key, locked after a few."""

from __future__ import annotations

from pathlib import Path

from daycase.config import Settings
from daycase.services.runtime import open_runtime
from daycase.store.factory import migrate


def test_wrong_guesses_lock_the_key_and_only_that_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    migrate(url)
    runtime = open_runtime(Settings(db=url, login_lock_after=3, login_slow_after=2))
    try:
        accounts = runtime.accounts
        assert accounts.check_guess("patient:ABC123") is None
        first = accounts.note_failure("patient:ABC123")
        assert (first.locked, first.delay_s) == (False, 0.0)
        second = accounts.note_failure("patient:ABC123")
        assert (second.locked, second.delay_s) == (False, 0.25)
        third = accounts.note_failure("patient:ABC123")
        assert third.locked
        refused = accounts.check_guess("patient:ABC123")
        assert refused is not None
        assert refused.locked
        assert refused.retry_after_s > 0
        assert accounts.check_guess("patient:XYZ789") is None
    finally:
        runtime.close()
