"""Checkpoints signed outside the database show what the chains alone cannot (service tests).

Someone with write access to the database edits a signed consent and re-seals the chain
(every hash and the case index re-computed), or deletes a case with its audit rows: the
chains still hold, so verification without anchors passes. With a checkpoint taken
before, verification names the case; a forged checkpoint is named too. SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from rich.console import Console

from daycase.demo import run_demo
from daycase.services.anchor_checks import AnchorIndex, read_anchors
from daycase.services.anchors import (
    AnchorKey,
    AnchorProblem,
    anchor_now,
    new_key,
    newest_own,
    parse_checkpoint,
    report_scan,
)
from daycase.services.catalog import PathwayCatalog
from daycase.services.integrity import Report, verify_all
from daycase.store.accounts import SqlAccounts
from daycase.store.sql import SqlEventStore, make_engine
from tests.support.clock import suite_now
from tests.support.databases import BACKENDS, database
from tests.support.tamper import delete_case, reseal_case, set_field

DAY = date(2026, 11, 26)


@dataclass
class Site:
    url: str
    store: SqlEventStore
    key: AnchorKey
    anchors: Path
    case_ids: list[str]

    def anchor(self) -> list[AnchorProblem]:
        _, scan = anchor_now(
            self.store.engine, key=self.key, out_dir=self.anchors, written_at=suite_now()
        )
        return list(report_scan(scan))

    def checkpoints(self) -> tuple[AnchorIndex, list[AnchorProblem]]:
        return read_anchors(self.anchors, [self.key])

    def verify(self, *, anchored: bool = True) -> Report:
        index, bad = self.checkpoints() if anchored else (None, [])
        return verify_all(self.store, PathwayCatalog(), anchors=index, untrusted=bad)

    def check_in_seq(self, case_id: str) -> int:
        """The seq of the case's check-in, where consent is recorded."""
        with self.store.engine.connect() as conn:
            seq = conn.execute(
                sa.text(
                    "SELECT seq FROM events WHERE case_id = :c AND body LIKE :step ORDER BY seq"
                ),
                {"c": case_id, "step": '%"step":"check_in"%'},
            ).scalar()
        assert isinstance(seq, int)
        return seq


@pytest.fixture(params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    with database(request.param, tmp_path) as url:
        run_demo(
            url=url,
            patients=3,
            seed=7,
            tz_name="America/New_York",
            today=DAY,
            console=Console(quiet=True),
        )
        store = SqlEventStore(make_engine(url))
        case_ids = [c.case_id for c in store.cases()]
        accounts = SqlAccounts(store.engine)
        for case_id in case_ids:
            accounts.audit(
                at=suite_now(), user_name="nurse", role="nurse", action="read_case", case_id=case_id
            )
        accounts.audit_rows(case_id=None)  # written before the checkpoint
        key = new_key(tmp_path / "keys" / "anchor.key")
        try:
            yield Site(url, store, key, tmp_path / "anchors", case_ids)
        finally:
            store.close()


def test_an_untouched_store_passes_through_every_anchor(site: Site) -> None:
    assert site.anchor() == []
    report = site.verify()
    assert report.ok, report
    assert len(report.checkpoints) == 1
    assert report.anchored_cases == len(site.case_ids) == 3
    [written] = list(site.anchors.glob("*.json"))
    checkpoint = parse_checkpoint(written, {site.key.key_id: site.key})
    assert checkpoint.audit.seq == report.audit_rows >= 3


def test_a_consent_edited_and_re_sealed_after_an_anchor_is_named(site: Site) -> None:
    site.anchor()
    victim = site.case_ids[1]
    seq = site.check_in_seq(victim)
    reseal_case(site.url, victim, seq=seq, edit=set_field("check_in", "consent_signed", False))

    assert site.verify(anchored=False).ok  # the chain alone cannot tell
    report = site.verify()
    assert report.problems == []
    [problem] = report.anchor_problems
    assert problem.subject == f"case {victim}"
    assert problem.problem.startswith(
        f"history was re-sealed or edited at or before seq {problem.seq}"
    )
    assert "checkpoint-" in problem.problem


def test_a_case_deleted_with_its_audit_rows_after_an_anchor_is_named(site: Site) -> None:
    site.anchor()
    victim = site.case_ids[0]
    delete_case(site.url, victim)

    plain = site.verify(anchored=False)
    assert plain.ok
    assert plain.cases == 2
    report = site.verify()
    subjects = {p.subject: p.problem for p in report.anchor_problems}
    assert subjects[f"case {victim}"].startswith("the case was deleted: checkpoint-")
    assert subjects[f"case {victim}"].endswith("and the database holds no event of it")
    assert subjects["audit log"].startswith("the audit log was cut below its anchor: checkpoint-")
    assert set(subjects) == {f"case {victim}", "audit log"}


def test_a_history_cut_below_its_anchor_is_named(site: Site) -> None:
    site.anchor()
    victim = site.case_ids[2]
    engine = sa.create_engine(site.url)
    try:
        with engine.begin() as conn:
            last = conn.execute(
                sa.text("SELECT max(seq) FROM events WHERE case_id = :c"), {"c": victim}
            ).scalar_one()
            conn.execute(
                sa.text("DELETE FROM events WHERE case_id = :c AND seq > :s"),
                {"c": victim, "s": last - 2},
            )
            conn.execute(
                sa.text(
                    "UPDATE cases SET last_seq = :s, last_hash = "
                    "(SELECT hash FROM events WHERE case_id = :c AND seq = :s) WHERE case_id = :c"
                ),
                {"c": victim, "s": last - 2},
            )
    finally:
        engine.dispose()

    assert site.verify(anchored=False).ok
    [problem] = site.verify().anchor_problems
    assert (problem.subject, problem.seq) == (f"case {victim}", last)
    assert problem.problem.startswith("history was cut below its anchor: checkpoint-")
    assert problem.problem.endswith(
        f"anchored seq {last}, the stored history ends at seq {last - 2}"
    )


def test_a_forged_or_edited_checkpoint_is_named_and_not_used(site: Site, tmp_path: Path) -> None:
    site.anchor()
    [real] = list(site.anchors.glob("*.json"))
    raw = json.loads(real.read_text(encoding="utf-8"))
    raw["cases"] = raw["cases"][1:]  # pretend a case never existed
    forged = site.anchors / "checkpoint-forged.json"
    forged.write_text(json.dumps(raw), encoding="utf-8")
    other = new_key(tmp_path / "other.key")
    anchor_now(site.store.engine, key=other, out_dir=tmp_path / "elsewhere", written_at=suite_now())
    [foreign] = list((tmp_path / "elsewhere").glob("*.json"))
    foreign.rename(site.anchors / "checkpoint-foreign.json")
    (site.anchors / "notes.json").write_text("{not json", encoding="utf-8")

    report = site.verify()
    named = {p.subject: p.problem for p in report.anchor_problems}
    assert named == {
        "checkpoint-forged.json": ("its signature does not match: the file was forged or edited"),
        "checkpoint-foreign.json": (
            f"signed with a key that was not given (key id {other.key_id}): pass that key "
            "with --key, or the file was forged"
        ),
        "notes.json": "not a daycase checkpoint (it does not parse); forged or damaged",
    }
    assert [c.name for c in report.checkpoints] == [real.name]
    assert not report.ok


def test_anchoring_again_keeps_the_last_good_anchor_of_a_re_sealed_case(site: Site) -> None:
    """The next checkpoint never vouches for a chain re-sealed since the last one."""
    site.anchor()
    victim = site.case_ids[0]
    seq = site.check_in_seq(victim)
    reseal_case(site.url, victim, seq=seq, edit=set_field("check_in", "consent_signed", False))

    [problem] = site.anchor()
    assert problem.subject == f"case {victim}"
    assert "no longer passes through seq" in problem.problem
    first, second = sorted(
        (parse_checkpoint(p, {site.key.key_id: site.key}) for p in site.anchors.glob("*.json")),
        key=lambda c: c.written_at,
    )
    assert first.cases[victim] == second.cases[victim]
    assert newest_own(site.anchors, site.key) is not None
    assert [p.subject for p in site.verify().anchor_problems] == [f"case {victim}"]
