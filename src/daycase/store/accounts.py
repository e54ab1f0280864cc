"""Users, bearer tokens, failed sign-ins and the audit log on SQLAlchemy Core (store room).

Plain storage: the rules (password hashing, throttling, expiry) live in
`daycase.services.accounts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from daycase.store.audit import AuditEntry
from daycase.store.audit_read import PAGE_COLUMNS, WITH_LISTS, of_case, page_row
from daycase.store.audit_writer import flush_writer, writer_for
from daycase.store.sql import reader
from daycase.store.tables import (
    audit_table,
    login_failures_table,
    server_keys_table,
    tokens_table,
    users_table,
)


class UserExists(Exception):
    """A user with that name is already stored."""


@dataclass(frozen=True, slots=True)
class UserRow:
    name: str
    role: str
    password_hash: str
    disabled: bool
    created_at: str


@dataclass(frozen=True, slots=True)
class FailureRow:
    failures: int
    last_failed_at: datetime
    locked_until: datetime | None


@dataclass(frozen=True, slots=True)
class TokenRow:
    user: UserRow
    expires_at: datetime
    revoked: bool
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class AuditRow:
    at: str
    user_name: str
    role: str
    action: str
    case_id: str | None
    detail: str
    case_ids: tuple[str, ...] = ()


def _user(row: Any) -> UserRow:
    return UserRow(row[0], row[1], row[2], bool(row[3]), row[4])


_USER_COLUMNS = (
    users_table.c.name,
    users_table.c.role,
    users_table.c.password_hash,
    users_table.c.disabled,
    users_table.c.created_at,
)


class SqlAccounts:
    """Accounts and audit rows in the same database as the events."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        # Reads opt out of SQLite's BEGIN IMMEDIATE: a sign-in check or a screen link must
        # never wait on (or be refused for) another program's write lock.
        self._reader = reader(engine)

    def add_user(self, *, name: str, role: str, password_hash: str, created_at: datetime) -> None:
        row = {
            "name": name,
            "role": role,
            "password_hash": password_hash,
            "disabled": False,
            "created_at": created_at.isoformat(),
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(users_table.insert(), row)
        except sa.exc.IntegrityError as exc:
            raise UserExists(name) from exc

    def set_password(self, name: str, *, password_hash: str) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(
                users_table.update()
                .where(users_table.c.name == name)
                .values(password_hash=password_hash, disabled=False)
            )
        return result.rowcount == 1

    def user(self, name: str) -> UserRow | None:
        with self._reader.connect() as conn:
            row = conn.execute(sa.select(*_USER_COLUMNS).where(users_table.c.name == name)).first()
        return _user(row) if row else None

    def users(self) -> list[UserRow]:
        with self._reader.connect() as conn:
            rows = conn.execute(sa.select(*_USER_COLUMNS).order_by(users_table.c.name)).all()
        return [_user(r) for r in rows]

    def set_disabled(self, name: str, *, disabled: bool) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(
                users_table.update().where(users_table.c.name == name).values(disabled=disabled)
            )
            if disabled:
                conn.execute(tokens_table.delete().where(tokens_table.c.user_name == name))
        return result.rowcount == 1

    def set_role(self, name: str, *, role: str) -> bool:
        """A new role ends every sign-in the user has: a token keeps the role it was
        issued with, and must not keep the old role's reach."""
        with self._engine.begin() as conn:
            result = conn.execute(
                users_table.update().where(users_table.c.name == name).values(role=role)
            )
            conn.execute(tokens_table.delete().where(tokens_table.c.user_name == name))
        return result.rowcount == 1

    def add_token(
        self, *, token_hash: str, user_name: str, issued_at: datetime, expires_at: datetime
    ) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                tokens_table.insert(),
                {
                    "token_hash": token_hash,
                    "user_name": user_name,
                    "issued_at": issued_at.isoformat(),
                    "expires_at": expires_at.isoformat(),
                    "revoked_at": None,
                    "last_seen_at": issued_at.isoformat(),
                },
            )

    def token_user(self, token_hash: str) -> TokenRow | None:
        """The token's user, expiry, revocation and last use; None if unknown.

        A token from before migration 0005 has no last use: it counts from its issue.
        """
        query = (
            sa.select(
                *_USER_COLUMNS,
                tokens_table.c.expires_at,
                tokens_table.c.revoked_at,
                sa.func.coalesce(tokens_table.c.last_seen_at, tokens_table.c.issued_at),
            )
            .join(tokens_table, tokens_table.c.user_name == users_table.c.name)
            .where(tokens_table.c.token_hash == token_hash)
        )
        with self._reader.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        user = UserRow(row[0], row[1], row[2], bool(row[3]), row[4])
        return TokenRow(
            user, datetime.fromisoformat(row[5]), row[6] is not None, datetime.fromisoformat(row[7])
        )

    def touch_token(self, token_hash: str, *, at: datetime) -> None:
        """Record that the token was used at `at` (never moving it back)."""
        with self._engine.begin() as conn:
            conn.execute(
                tokens_table.update()
                .where(tokens_table.c.token_hash == token_hash)
                .where(
                    sa.or_(
                        tokens_table.c.last_seen_at.is_(None),
                        tokens_table.c.last_seen_at < at.isoformat(),
                    )
                )
                .values(last_seen_at=at.isoformat())
            )

    def revoke_token(self, token_hash: str, *, at: datetime) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                tokens_table.update()
                .where(tokens_table.c.token_hash == token_hash)
                .values(revoked_at=at.isoformat())
            )

    def failures(self, name: str) -> FailureRow | None:
        query = sa.select(
            login_failures_table.c.failures,
            login_failures_table.c.last_failed_at,
            login_failures_table.c.locked_until,
        ).where(login_failures_table.c.name == name)
        with self._reader.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        locked = datetime.fromisoformat(row[2]) if row[2] else None
        return FailureRow(row[0], datetime.fromisoformat(row[1]), locked)

    def save_failures(self, name: str, row: FailureRow) -> None:
        values = {
            "failures": row.failures,
            "last_failed_at": row.last_failed_at.isoformat(),
            "locked_until": row.locked_until.isoformat() if row.locked_until else None,
        }
        with self._engine.begin() as conn:
            updated = conn.execute(
                login_failures_table.update()
                .where(login_failures_table.c.name == name)
                .values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(login_failures_table.insert(), {"name": name, **values})

    def clear_failures(self, name: str) -> bool:
        """Forget a user's failed sign-ins; whether there were any."""
        with self._engine.begin() as conn:
            result = conn.execute(
                login_failures_table.delete().where(login_failures_table.c.name == name)
            )
        return result.rowcount > 0

    def all_failures(self) -> dict[str, FailureRow]:
        """Every user's failure row (one a user at most): for the admin's user list."""
        query = sa.select(
            login_failures_table.c.name,
            login_failures_table.c.failures,
            login_failures_table.c.last_failed_at,
            login_failures_table.c.locked_until,
        )
        with self._reader.connect() as conn:
            rows = conn.execute(query).all()
        return {
            r[0]: FailureRow(
                r[1], datetime.fromisoformat(r[2]), datetime.fromisoformat(r[3]) if r[3] else None
            )
            for r in rows
        }

    def server_key(self, name: str, *, make: Callable[[], str], at: datetime) -> str:
        """The secret stored under `name`, made with `make` and stored the first time.

        Two processes making it at once both end up with the one that was stored first.
        """
        query = sa.select(server_keys_table.c.secret).where(server_keys_table.c.name == name)
        with self._reader.connect() as conn:
            found = conn.execute(query).scalar_one_or_none()
        if found is not None:
            return str(found)
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    server_keys_table.insert(),
                    {"name": name, "secret": make(), "created_at": at.isoformat()},
                )
        except sa.exc.IntegrityError:
            pass
        with self._reader.connect() as conn:
            return str(conn.execute(query).scalar_one())

    def audit(
        self,
        *,
        at: datetime,
        user_name: str,
        role: str,
        action: str,
        case_id: str | None,
        detail: str = "",
    ) -> None:
        self.audit_many(
            at=at, user_name=user_name, role=role, action=action, case_ids=[case_id], detail=detail
        )

    def audit_many(
        self,
        *,
        at: datetime,
        user_name: str,
        role: str,
        action: str,
        case_ids: Sequence[str | None],
        detail: str = "",
    ) -> None:
        """One row for one read: naming its case, or listing every case it showed (a board:
        one hashed row and an index entry per case, not a hashed row per case; 600 of
        those per refresh of a big day's board cost more than the board).

        Queued for the process's audit writer, which chains them onto the audit log in the
        background; `AuditUnavailable` when the log is not keeping up (refuse the read).
        """
        shown = [case_id for case_id in case_ids if case_id is not None]
        many = len(shown) > 1
        entry = AuditEntry(
            at=at,
            user_name=user_name,
            role=role,
            action=action,
            case_id=shown[0] if len(shown) == 1 else None,
            detail=detail,
            case_ids=tuple(shown) if many else (),
        )
        writer_for(self._engine).submit([entry])

    def own_reads(self, case_ids: Sequence[str]) -> dict[str, list[AuditRow]]:
        """Each case's reads of its own record (its page, its events, its export), oldest
        first, this process's queued rows included; not the reads that showed many cases
        at once (a board, a day's list), which stay in the log. One query per 500 cases."""
        flush_writer(self._engine)
        found: dict[str, list[AuditRow]] = {c: [] for c in case_ids}
        a = audit_table.c
        for start in range(0, len(case_ids), 500):
            query = (
                sa.select(a.at, a.user_name, a.role, a.action, a.case_id, a.detail)
                .where(a.case_id.in_(case_ids[start : start + 500]))
                .order_by(a.seq)
            )
            with reader(self._engine).connect() as conn:
                for at, user_name, role, action, case_id, detail in conn.execute(query):
                    found[case_id].append(AuditRow(at, user_name, role, action, case_id, detail))
        return found

    def audit_rows(self, *, case_id: str | None) -> list[AuditRow]:
        """Stored rows in the order they were written, this process's queued rows included."""
        flush_writer(self._engine)
        query = sa.select(*PAGE_COLUMNS).select_from(WITH_LISTS).order_by(audit_table.c.seq)
        if case_id is not None:
            query = query.where(of_case(case_id))
        with reader(self._engine).connect() as conn:
            rows = conn.execute(query).all()
        return [
            AuditRow(r.at, r.user_name, r.role, r.action, p.case_id, r.detail, p.case_ids)
            for r in rows
            if (p := page_row(r, case_id=case_id))
        ]
