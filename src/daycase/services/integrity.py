"""Does the store prove itself: hash chains, pathway definitions, the audit chain and the
anchors (services).

`daycase verify` runs this. Beyond every case's hash chain, each case's pathway version
must be available here with the very definition (digest) it was opened on, and its index
row must say the same as its first event: otherwise the case could only be judged by
another definition, which daycase never does silently. The audit log is one chain too;
and checkpoints signed outside the database show a chain re-sealed after the fact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from daycase.engine.events import CaseOpened
from daycase.services.anchor_checks import AnchorIndex, Seen, check_anchors
from daycase.services.anchors import AnchorProblem
from daycase.services.catalog import PathwayCatalog, PathwayUnavailable
from daycase.store.audit import AuditProblem, verify_audit
from daycase.store.base import ChainProblem, EventStore
from daycase.store.sql import SqlEventStore, snapshot
from daycase.store.tables import events_table


def verify_store(store: EventStore, catalog: PathwayCatalog) -> list[ChainProblem]:
    """Every problem found, one per case at most per kind, by case id."""
    problems = store.verify()
    broken = {p.case_id for p in problems}
    for summary in store.cases():
        if summary.case_id in broken:
            continue
        events = store.load(summary.case_id)
        first = events[0] if events else None
        if not isinstance(first, CaseOpened):
            continue  # a cut or reordered history: the chain check has said so
        said = (first.pathway_id, first.pathway_version, first.pathway_digest)
        indexed = (summary.pathway_id, summary.pathway_version, summary.pathway_digest)
        if said != indexed:
            problems.append(
                ChainProblem(
                    summary.case_id,
                    1,
                    f"the case index says pathway {_ref(indexed)}, the case's first event "
                    f"says {_ref(said)}",
                )
            )
            continue
        try:
            catalog.for_case(first)
        except PathwayUnavailable as exc:
            problems.append(ChainProblem(summary.case_id, 1, str(exc)))
    return sorted(problems, key=lambda p: p.case_id)


def _ref(parts: tuple[str, str, str]) -> str:
    pathway_id, version, digest = parts
    return f"{pathway_id}@{version} (sha256 {digest[:12]}…)"


@dataclass(slots=True)
class Report:
    """Everything `daycase verify` found, and how much it looked at."""

    cases: int
    events: int
    audit_rows: int
    problems: list[ChainProblem]
    audit_problems: list[AuditProblem]
    anchor_problems: list[AnchorProblem] = field(default_factory=list)
    checkpoints: list[Seen] = field(default_factory=list)
    anchored_cases: int = 0

    @property
    def ok(self) -> bool:
        return not (self.problems or self.audit_problems or self.anchor_problems)

    @property
    def empty(self) -> bool:
        """No history at all: a fresh database, or the wrong file."""
        return self.cases == 0 and self.events == 0


def verify_all(
    store: SqlEventStore,
    catalog: PathwayCatalog,
    *,
    anchors: AnchorIndex | None = None,
    untrusted: Sequence[AnchorProblem] = (),
) -> Report:
    """Chains, definitions, the audit chain and (when given) every trusted checkpoint.

    `untrusted` are checkpoint files whose signature failed: reported, never used.
    """
    problems = verify_store(store, catalog)
    with snapshot(store.engine).connect() as conn:
        audit_problems, _, audit_rows = verify_audit(conn)
        events = conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar_one()
    report = Report(
        cases=len(store.cases()),
        events=int(events),
        audit_rows=audit_rows,
        problems=problems,
        audit_problems=audit_problems,
        anchor_problems=list(untrusted),
    )
    if anchors is not None:
        report.checkpoints = list(anchors.checkpoints)
        report.anchor_problems += check_anchors(store.engine, anchors)
        report.anchored_cases = len(anchors.cases)
    return report
