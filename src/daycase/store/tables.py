"""Every table daycase keeps, in one SQLAlchemy Core metadata (store room).

Alembic migrations create exactly these; a test compares the migrated schema with them.
"""

from __future__ import annotations

import sqlalchemy as sa

# Named constraints let later migrations (and SQLite batch mode) refer to them by name.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an `INTEGER PRIMARY KEY`; elsewhere ids get 64 bits.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

cases_table = sa.Table(
    "cases",
    metadata,
    sa.Column("case_id", sa.Text, primary_key=True),
    sa.Column("pathway_id", sa.Text, nullable=False),
    sa.Column("pathway_version", sa.Text, nullable=False),
    sa.Column("pathway_digest", sa.String(64), nullable=False),
    sa.Column("scheduled_start", sa.Text, nullable=False),
    sa.Column("scheduled_date", sa.String(10), nullable=False, index=True),
    sa.Column("family_code", sa.Text, nullable=False),
    sa.Column("opened_at", sa.Text, nullable=False),
    sa.Column("last_seq", sa.Integer, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
)

events_table = sa.Table(
    "events",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Text, sa.ForeignKey("cases.case_id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False, unique=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("case_id", "seq", name="uq_events_case_seq"),
)


# A client's Idempotency-Key for a clinical write, stored in the write's own transaction:
# a retry of a write whose answer was lost is answered with the event stored the first time.
idempotency_keys_table = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("case_id", sa.Text, sa.ForeignKey("cases.case_id"), nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
)


users_table = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
)

# Only a SHA-256 of each bearer token is kept: a stolen database row cannot sign anyone in.
tokens_table = sa.Table(
    "tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.Text, sa.ForeignKey("users.name"), nullable=False, index=True),
    sa.Column("issued_at", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Text, nullable=False),
    sa.Column("revoked_at", sa.Text, nullable=True),
    # Written at most once a minute per token: the idle timeout's clock (migration 0005).
    sa.Column("last_seen_at", sa.Text, nullable=True),
)

# Failed sign-ins from untrusted clients, one row per real user at most: names that are
# not users are counted in memory only, so nobody can grow this table without signing in.
login_failures_table = sa.Table(
    "login_failures",
    metadata,
    sa.Column("name", sa.Text, sa.ForeignKey("users.name"), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failed_at", sa.Text, nullable=False),
    sa.Column("locked_until", sa.Text, nullable=True),
)

# Secrets the server makes once and keeps, e.g. the key that signs device cookies.
server_keys_table = sa.Table(
    "server_keys",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
)

# The audit log is one hash chain in `seq` order (store/audit.py); `audit_head` is where it
# ends, locked by each writer so that processes append one after another.
audit_table = sa.Table(
    "audit",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("user_name", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("case_id", sa.Text, nullable=True, index=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    # A read that showed several cases (a board): the SHA-256 of the list of their ids
    # (`audit_case_lists`), covered by the row's hash (migration 0008); `case_id` is empty.
    sa.Column("case_list", sa.String(64), nullable=True, index=True),
    sa.UniqueConstraint("seq", name="uq_audit_seq"),
)

# Each distinct list of cases a read showed, stored once under its SHA-256: a board read
# again and again lists the same day, so its rows share one list (a list per row was
# 600 index rows per refresh of a big day's board).
audit_case_lists_table = sa.Table(
    "audit_case_lists",
    metadata,
    sa.Column("list_hash", sa.String(64), primary_key=True),
    sa.Column("case_ids", sa.Text, nullable=False),
)

# Which lists hold each case, so that "who read case X" is one indexed lookup; derived
# from `audit_case_lists` (`daycase projections rebuild` restores it, `verify` checks it).
audit_list_cases_table = sa.Table(
    "audit_list_cases",
    metadata,
    sa.Column("case_id", sa.Text, primary_key=True),
    sa.Column("list_hash", sa.String(64), primary_key=True),
)

audit_head_table = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("last_seq", sa.Integer, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
)

# Waiting-room screens reached by a long random link instead of a sign-in; revocable.
display_links_table = sa.Table(
    "display_links",
    metadata,
    sa.Column("link_hash", sa.String(64), primary_key=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("revoked_at", sa.Text, nullable=True),
)

# The centre's set-up (rooms, bays, targets, reason lists), one row per version, kept for
# ever: the version is the key, so two changes made from the same version cannot both land.
centre_setup_table = sa.Table(
    "centre_setup",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("changed_by", sa.Text, nullable=False),
    sa.Column("changed_at", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)

# A day's schedule, one row per change (the latest version is the schedule); the key
# refuses a second change made from the same version.
schedule_table = sa.Table(
    "schedule",
    metadata,
    sa.Column("day", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("changed_by", sa.Text, nullable=False),
    sa.Column("changed_at", sa.Text, nullable=False),
    sa.Column("change", sa.Text, nullable=False),
)

# The report facts read model: one row per case, folded from its events
# (`daycase.reports.facts`); `seq` says which of the case's events it has seen.
report_facts_table = sa.Table(
    "report_facts",
    metadata,
    sa.Column("case_id", sa.Text, primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    # Read from the index alone: a report's seqs and its freshness check (migration 0012).
    sa.Index("ix_report_facts_day_case", "day", "case_id", "seq"),
)


# Each day's report tallies (every measure, no filter), as the last report made them, with
# what they were made from (migration 0013). Derived from report_facts and the schedule
# alone, so any row may be dropped: the next report makes it again.
report_days_table = sa.Table(
    "report_days",
    metadata,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("until", sa.Text, nullable=True),
    sa.Column("cases", sa.Integer, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)


# The hospital's bookings that made cases (FHIR import): an Appointment's identifier names
# its case for good, so the same booking sent again is the same case (migration 0014).
fhir_bookings_table = sa.Table(
    "fhir_bookings",
    metadata,
    sa.Column("booking", sa.Text, primary_key=True),
    sa.Column("case_id", sa.Text, sa.ForeignKey("cases.case_id"), nullable=False),
    sa.Column("booked_at", sa.Text, nullable=False),
)
