"""Account rules shared by API and pages: the read audit.

The guess throttle is tested in tests/api/test_signin_rules.py.
"""

from __future__ import annotations

from pathlib import Path

from daycase.config import Settings
from daycase.services.accounts import User
from daycase.services.runtime import open_runtime
from daycase.store.factory import migrate


def test_a_read_is_audited_once_listing_every_case_shown(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    migrate(url)
    runtime = open_runtime(Settings(db=url))
    try:
        nurse = User("nurse", "nurse")
        runtime.audit_read(nurse, "board", ["case-a", "case-b"], "2026-11-26")
        runtime.audit_read(nurse, "read_case", ["case-b"])
        runtime.audit_read(nurse, "board", [], "2026-11-27")
        audit = runtime.accounts.accounts
        rows = audit.audit_rows(case_id=None)
        assert [(r.action, r.case_id, r.case_ids, r.detail) for r in rows] == [
            ("board", None, ("case-a", "case-b"), "2026-11-26"),
            ("read_case", "case-b", (), ""),
            ("board", None, (), "2026-11-27"),
        ]
        assert {r.user_name for r in rows} == {"nurse"}
        # Who read case-a: the board that listed it, named as case-a.
        assert [(r.action, r.case_id) for r in audit.audit_rows(case_id="case-a")] == [
            ("board", "case-a")
        ]
        assert [(r.action, r.case_id) for r in audit.audit_rows(case_id="case-b")] == [
            ("board", "case-b"),
            ("read_case", "case-b"),
        ]
    finally:
        runtime.close()
