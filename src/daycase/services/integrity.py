"""Does the store prove itself: hash chains, and each case's pathway definition (services).

`daycase verify` runs this. Beyond every case's hash chain, each case's pathway version
must be available here with the very definition (digest) it was opened on, and its index
row must say the same as its first event: otherwise the case could only be judged by
another definition, which daycase never does silently.
"""

from __future__ import annotations

from daycase.engine.events import CaseOpened
from daycase.services.catalog import PathwayCatalog, PathwayUnavailable
from daycase.store.base import ChainProblem, EventStore


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
