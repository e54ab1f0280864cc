"""Pathways as the engine runs them: loaded with the engine's rule registry (engine room).

The pathways room validates files against the rule shapes it is given; here those are
the registry's, so every alert of a loaded pathway has its rule and typed parameters.
Built-in pathways are every released version shipped in the package.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from daycase.engine.rules import rule_shapes
from daycase.pathways import loader
from daycase.pathways.loader import PathwayError, version_key
from daycase.pathways.schema import Pathway

__all__ = [
    "PathwayError",
    "builtin_ids",
    "builtin_pathway",
    "builtin_versions",
    "load_pathway",
    "parse_pathway",
]


def parse_pathway(text: str, *, source: str) -> Pathway:
    return loader.parse_pathway(text, source=source, rules=rule_shapes())


def load_pathway(path: str | Path) -> Pathway:
    return loader.load_pathway(path, rules=rule_shapes())


def builtin_versions(pathway_id: str) -> list[str]:
    """The released versions of a built-in pathway, oldest first."""
    found = [v for (pid, v) in loader.builtin_files() if pid == pathway_id]
    return sorted(found, key=version_key)


def builtin_ids() -> list[str]:
    return sorted({pid for pid, _ in loader.builtin_files()})


@cache
def builtin_pathway(pathway_id: str, version: str | None = None) -> Pathway:
    """A built-in pathway version (the latest when `version` is None), loaded once."""
    versions = builtin_versions(pathway_id)
    if not versions:
        raise PathwayError(pathway_id, [f"no built-in pathway {pathway_id!r}"])
    chosen = version or versions[-1]
    name = loader.builtin_files().get((pathway_id, chosen))
    if name is None:
        raise PathwayError(
            f"{pathway_id}@{chosen}",
            [f"no released version {chosen!r}; released: {', '.join(versions)}"],
        )
    pathway = parse_pathway(loader.builtin_text(name), source=f"builtin:{name}")
    if (pathway.id, pathway.version) != (pathway_id, chosen):
        raise PathwayError(name, [f"the file says {pathway.ref}, its name says otherwise"])
    return pathway
