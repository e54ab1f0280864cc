"""Users, bearer tokens, failed sign-ins and the audit log on SQLAlchemy Core (store room).

Plain storage: the rules (password hashing, throttling, expiry) live in
`daycase.services.accounts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from daycase.store.tables import audit_table, login_failures_table, tokens_table, users_table


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
class AuditRow:
    at: str
    user_name: str
    role: str
    action: str
    case_id: str | None
    detail: str


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
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(*_USER_COLUMNS).where(users_table.c.name == name)).first()
        return _user(row) if row else None

    def users(self) -> list[UserRow]:
        with self._engine.connect() as conn:
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
                },
            )

    def token_user(self, token_hash: str) -> tuple[UserRow, datetime, bool] | None:
        """The token's user, its expiry and whether it was revoked; None if unknown."""
        query = (
            sa.select(*_USER_COLUMNS, tokens_table.c.expires_at, tokens_table.c.revoked_at)
            .join(tokens_table, tokens_table.c.user_name == users_table.c.name)
            .where(tokens_table.c.token_hash == token_hash)
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        user = UserRow(row[0], row[1], row[2], bool(row[3]), row[4])
        return user, datetime.fromisoformat(row[5]), row[6] is not None

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
        with self._engine.connect() as conn:
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

    def clear_failures(self, name: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(login_failures_table.delete().where(login_failures_table.c.name == name))

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
        """One row per case for one read that showed several cases (a board), in one go."""
        rows = [
            {
                "at": at.isoformat(),
                "user_name": user_name,
                "role": role,
                "action": action,
                "case_id": case_id,
                "detail": detail,
            }
            for case_id in case_ids
        ]
        if not rows:
            return
        with self._engine.begin() as conn:
            conn.execute(audit_table.insert(), rows)

    def audit_rows(self, *, case_id: str | None) -> list[AuditRow]:
        query = sa.select(
            audit_table.c.at,
            audit_table.c.user_name,
            audit_table.c.role,
            audit_table.c.action,
            audit_table.c.case_id,
            audit_table.c.detail,
        ).order_by(audit_table.c.id)
        if case_id is not None:
            query = query.where(audit_table.c.case_id == case_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [AuditRow(*r) for r in rows]
