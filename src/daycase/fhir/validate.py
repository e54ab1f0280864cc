"""A bundle checked against the FHIR models (`fhir.resources`, R4B) and our own rules.

R4B (FHIR 4.3) is the release of the models nearest R4 that the package ships; the
resources we export are the same in both. The models check each resource's shape, types
and formats, not its codes, bindings or profiles: `check.problems` checks what we rely
on of those. Used by the tests and by `daycase fhir export --validate`.
"""

from __future__ import annotations

from typing import Any

from daycase.fhir.check import problems


def bundle_problems(bundle: dict[str, Any]) -> list[str]:
    """Every problem in the bundle, each naming the resource; [] when it is sound."""
    # Imported here: the models take a while to load, and only validation needs them.
    import fhir.resources.R4B as r4b
    from pydantic import ValidationError

    found: list[str] = []
    try:
        r4b.get_fhir_model_class("Bundle").model_validate(bundle)
    except ValidationError as bad:
        found += [f"Bundle: {_where(e)}: {e['msg']}" for e in bad.errors()]
    except KeyError as unknown:  # an entry of no R4 type: named again per entry below
        found.append(f"Bundle: an entry's resource type {unknown} is no R4 resource type")
    for entry in bundle.get("entry", []):
        resource = entry.get("resource", {})
        kind = str(resource.get("resourceType"))
        key = f"{kind}/{resource.get('id')}"
        try:
            model = r4b.get_fhir_model_class(kind)
        except ValueError:
            found.append(f"{key}: {kind} is no R4 resource type")
            continue
        try:
            model.model_validate(resource)
        except ValidationError as bad:
            found += [f"{key}: {_where(e)}: {e['msg']}" for e in bad.errors()]
    return found + problems(bundle)


def _where(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(the resource)"
