"""Checking a database against a folder of signed checkpoints (service room).

Every file's signature must hold; then every case and the audit log must still pass
through each (seq, hash) any checkpoint anchored. Checkpoints repeat the same heads, so
they are folded into one index of distinct places first: a month of them fits in memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from daycase.services.anchors import (
    AnchorError,
    AnchorKey,
    AnchorProblem,
    UntrustedCheckpoint,
    parse_checkpoint,
)
from daycase.store.heads import stored_hashes


@dataclass(frozen=True, slots=True)
class Seen:
    """A checkpoint that vouched for a place: its file and when it was written."""

    name: str
    written_at: datetime
    cases: int = 0

    def when(self) -> str:
        return f"{self.name} (written {self.written_at:%Y-%m-%d %H:%M %Z})"


# For each anchored place, each hash anchored there with the earliest checkpoint that did.
Places = dict[int, dict[str, Seen]]


@dataclass(slots=True)
class AnchorIndex:
    """Every trusted checkpoint, folded: distinct anchored places per case and for the audit."""

    checkpoints: list[Seen] = field(default_factory=list)
    cases: dict[str, Places] = field(default_factory=dict)
    audit: Places = field(default_factory=dict)

    def add(
        self, seen: Seen, heads: Sequence[tuple[str, int, str]], audit: tuple[int, str]
    ) -> None:
        self.checkpoints.append(seen)
        for case_id, seq, digest in heads:
            _note(self.cases.setdefault(case_id, {}), seq, digest, seen)
        if audit[0] > 0:
            _note(self.audit, audit[0], audit[1], seen)


def _note(places: Places, seq: int, digest: str, seen: Seen) -> None:
    hashes = places.setdefault(seq, {})
    known = hashes.get(digest)
    if known is None or seen.written_at < known.written_at:
        hashes[digest] = seen


def read_anchors(
    folder: Path, keys: Sequence[AnchorKey]
) -> tuple[AnchorIndex, list[AnchorProblem]]:
    """Fold every `*.json` file in `folder` whose signature holds; name every other one."""
    if not folder.is_dir():
        raise AnchorError(f"no anchor folder at {folder}")
    by_id = {key.key_id: key for key in keys}
    index = AnchorIndex()
    untrusted: list[AnchorProblem] = []
    for path in sorted(folder.glob("*.json")):
        try:
            checkpoint = parse_checkpoint(path, by_id)
        except UntrustedCheckpoint as exc:
            untrusted.append(AnchorProblem(path.name, None, str(exc), kind="checkpoint"))
            continue
        index.add(
            Seen(checkpoint.name, checkpoint.written_at, len(checkpoint.cases)),
            [(case_id, head.seq, head.hash) for case_id, head in checkpoint.cases.items()],
            (checkpoint.audit.seq, checkpoint.audit.hash),
        )
    index.checkpoints.sort(key=lambda c: (c.written_at, c.name))
    return index, untrusted


def check_anchors(engine: sa.Engine, index: AnchorIndex) -> list[AnchorProblem]:
    """Every anchored case and the audit log must still pass through every anchored place."""
    stored = stored_hashes(
        engine,
        wanted={case_id: set(places) for case_id, places in index.cases.items()},
        audit_wanted=set(index.audit),
    )
    problems: list[AnchorProblem] = []
    for case_id in sorted(index.cases):
        found = _case_problem(case_id, index.cases[case_id], stored.at, stored.ends.get(case_id))
        if found:
            problems.append(found)
    if index.audit:
        found = _audit_problem(index.audit, stored.audit_at, stored.audit_end)
        if found:
            problems.append(found)
    return problems


def _anchors(places: Places) -> list[tuple[int, str, Seen]]:
    """Anchored places by seq, and at one seq by the checkpoint's time."""
    return sorted(
        ((seq, digest, seen) for seq, hashes in places.items() for digest, seen in hashes.items()),
        key=lambda a: (a[0], a[2].written_at),
    )


def _case_problem(
    case_id: str, places: Places, stored: Mapping[tuple[str, int], str], end: int | None
) -> AnchorProblem | None:
    subject = f"case {case_id}"
    anchors = _anchors(places)
    if end is None:
        top_seq, _, top_seen = anchors[-1]
        return AnchorProblem(
            subject,
            top_seq,
            f"the case was deleted: {top_seen.when()} anchored it at seq {top_seq}, and the "
            "database holds no event of it",
        )
    matched = 0
    for seq, digest, seen in anchors:
        if seq > end:
            return AnchorProblem(
                subject,
                seq,
                f"history was cut below its anchor: {seen.when()} anchored seq {seq}, the "
                f"stored history ends at seq {end}",
            )
        if stored.get((case_id, seq)) != digest:
            after = f" (seq {matched} still matches its anchor)" if matched else ""
            return AnchorProblem(
                subject,
                seq,
                f"history was re-sealed or edited at or before seq {seq}{after}: the stored "
                f"chain no longer passes through what {seen.when()} anchored",
            )
        matched = seq
    return None


def _audit_problem(places: Places, stored: Mapping[int, str], end: int) -> AnchorProblem | None:
    matched = 0
    for seq, digest, seen in _anchors(places):
        if seq > end:
            return AnchorProblem(
                "audit log",
                seq,
                f"the audit log was cut below its anchor: {seen.when()} anchored row {seq}, the "
                f"stored log ends at row {end}",
                kind="audit",
            )
        if stored.get(seq) != digest:
            after = f" (row {matched} still matches its anchor)" if matched else ""
            return AnchorProblem(
                "audit log",
                seq,
                f"the audit log was rewritten at or before row {seq}{after}: it no longer "
                f"passes through what {seen.when()} anchored",
                kind="audit",
            )
        matched = seq
    return None
