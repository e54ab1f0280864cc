"""Account rules shared by API and pages: the guess throttle and the read audit."""

from __future__ import annotations

from pathlib import Path

from daycase.config import Settings
from daycase.services.accounts import User
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


def test_a_read_is_audited_once_per_case_shown(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    migrate(url)
    runtime = open_runtime(Settings(db=url))
    try:
        nurse = User("nurse", "nurse")
        runtime.audit_read(nurse, "board", ["case-a", "case-b"], "2026-11-26")
        runtime.audit_read(nurse, "board", [], "2026-11-27")
        rows = runtime.accounts.accounts.audit_rows(case_id=None)
        assert [(r.action, r.case_id, r.detail) for r in rows] == [
            ("board", "case-a", "2026-11-26"),
            ("board", "case-b", "2026-11-26"),
            ("board", None, "2026-11-27"),
        ]
        assert {r.user_name for r in rows} == {"nurse"}
    finally:
        runtime.close()
