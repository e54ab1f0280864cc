"""Which pathway versions a service knows: every released built-in one, plus files (service room).

The catalog is keyed by (id, version). A new case takes the latest version of its
pathway unless it names one; a stored case is judged by exactly the definition it was
opened with, checked by its digest, and a case whose definition is missing or differs is
an error naming the case, the pathway and the version, never a silent fallback.
"""

from __future__ import annotations

from daycase.engine.events import CaseOpened
from daycase.engine.load import builtin_ids, builtin_pathway, builtin_versions, load_pathway
from daycase.pathways.loader import version_key
from daycase.pathways.schema import Pathway


class UnknownPathway(LookupError):
    """A case or command named a pathway id, or a version of it, that this service lacks."""

    def __init__(self, pathway_id: str, version: str | None = None) -> None:
        self.pathway_id = pathway_id
        self.version = version
        super().__init__(f"{pathway_id}@{version}" if version else pathway_id)


class PathwayUnavailable(LookupError):
    """A stored case's pathway definition is not available, or not the one it was opened on."""

    def __init__(self, case_id: str, pathway_id: str, version: str, problem: str) -> None:
        self.case_id = case_id
        self.pathway_id = pathway_id
        self.version = version
        self.problem = problem
        super().__init__(
            f"case {case_id}: pathway {pathway_id} version {version}: {problem}; it cannot be "
            "judged by another definition"
        )


class PathwayCatalog:
    """Pathway versions by (id, version). A file given explicitly takes the place of a
    built-in of the same id and version (and a case pinned to the built-in's digest then
    refuses to load, as it should)."""

    def __init__(self, extra: list[Pathway] | None = None) -> None:
        self._extra = {(p.id, p.version): p for p in extra or []}
        # Every write asks for its case's definition; the answer never changes in a process.
        self._checked: dict[tuple[str, str, str], Pathway] = {}

    @classmethod
    def with_files(cls, paths: list[str]) -> PathwayCatalog:
        return cls([load_pathway(path) for path in paths])

    def versions(self, pathway_id: str) -> list[str]:
        """Every version known for this id, oldest first."""
        found = set(builtin_versions(pathway_id))
        found |= {v for (pid, v) in self._extra if pid == pathway_id}
        return sorted(found, key=version_key)

    def get(self, pathway_id: str, version: str | None = None) -> Pathway:
        """A version of a pathway; the latest when `version` is None."""
        versions = self.versions(pathway_id)
        if not versions:
            raise UnknownPathway(pathway_id)
        chosen = version or versions[-1]
        if chosen not in versions:
            raise UnknownPathway(pathway_id, chosen)
        extra = self._extra.get((pathway_id, chosen))
        return extra if extra is not None else builtin_pathway(pathway_id, chosen)

    def for_case(self, opened: CaseOpened) -> Pathway:
        """The exact definition a stored case was opened with, or PathwayUnavailable."""
        known = (opened.pathway_id, opened.pathway_version, opened.pathway_digest)
        found = self._checked.get(known)
        if found is not None:
            return found
        pathway = self._for_case(opened)
        self._checked[known] = pathway
        return pathway

    def _for_case(self, opened: CaseOpened) -> Pathway:
        try:
            pathway = self.get(opened.pathway_id, opened.pathway_version)
        except UnknownPathway as exc:
            raise PathwayUnavailable(
                opened.case_id,
                opened.pathway_id,
                opened.pathway_version,
                "this server does not have that version",
            ) from exc
        if not opened.pathway_digest:
            raise PathwayUnavailable(
                opened.case_id, opened.pathway_id, opened.pathway_version, "no digest recorded"
            )
        if pathway.digest != opened.pathway_digest:
            raise PathwayUnavailable(
                opened.case_id,
                opened.pathway_id,
                opened.pathway_version,
                f"its definition here (sha256 {pathway.digest[:12]}…) differs from the one "
                f"the case was opened with (sha256 {opened.pathway_digest[:12]}…)",
            )
        return pathway

    def ids(self) -> list[str]:
        return sorted(set(builtin_ids()) | {pid for pid, _ in self._extra})

    def all(self) -> list[Pathway]:
        """Every version of every pathway, by id then version."""
        return [self.get(pid, v) for pid in self.ids() for v in self.versions(pid)]
