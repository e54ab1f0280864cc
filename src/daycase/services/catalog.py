"""Which pathways a service knows: the built-in ones plus any loaded from files (service room)."""

from __future__ import annotations

from daycase.pathways.loader import BUILTIN_IDS, builtin_pathway, load_pathway
from daycase.pathways.schema import Pathway


class UnknownPathway(LookupError):
    """A case or command named a pathway id this service does not know."""


class PathwayCatalog:
    """Pathways by id. Files given explicitly take precedence over built-ins of the same id."""

    def __init__(self, extra: list[Pathway] | None = None) -> None:
        self._extra = {p.id: p for p in extra or []}

    @classmethod
    def with_files(cls, paths: list[str]) -> PathwayCatalog:
        return cls([load_pathway(path) for path in paths])

    def get(self, pathway_id: str) -> Pathway:
        if pathway_id in self._extra:
            return self._extra[pathway_id]
        if pathway_id in BUILTIN_IDS:
            return builtin_pathway(pathway_id)
        raise UnknownPathway(pathway_id)

    def ids(self) -> list[str]:
        return sorted(set(BUILTIN_IDS) | set(self._extra))
