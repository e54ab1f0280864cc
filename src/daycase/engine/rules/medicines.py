"""Rules about medicines: antibiotics, allergies, materials, blood thinners (engine room).

Names are matched the way the 2.0 specification says (`texts_match`): trimmed and
case-insensitive, equal, or one inside the other when both have 4 characters or more; a
shorter entry ("PCN") counts only when it is a name of the file's tables and stands as a
word of its own. The tables (drug classes, materials, hold times) are data in the file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import Field

from daycase.engine.alerts import RuleContext, Span
from daycase.engine.fold import Entry
from daycase.engine.rules import rule
from daycase.engine.rules.readings import grouped, message, track_latest
from daycase.engine.validate import parse_time
from daycase.pathways.rules import RuleParams
from daycase.pathways.schema import AlertRule, DrugClass, Medicines

_WORDS = re.compile(r"[\W_]+")


def texts_match(a: str, b: str, names: frozenset[str]) -> bool:
    """Two texts name the same thing (see the module's docstring)."""
    a, b = a.strip().lower(), b.strip().lower()
    if not a or not b:
        return False
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    if len(short) >= 4:
        return short in long
    return short in names and short in _WORDS.split(long)


def in_class(text: str, cls: DrugClass, names: frozenset[str]) -> bool:
    return any(texts_match(text, name, names) for name in cls.names)


def classes_of(text: str, medicines: Medicines) -> list[DrugClass]:
    """The drug classes one of whose names the text matches."""
    return [c for c in medicines.drug_classes if in_class(text, c, medicines.names)]


class AntibioticTiming(RuleParams):
    antibiotic_step: str
    drug_field: str
    max_min: float
    extended_max_min: float
    # 1.0: these names anywhere in the drug's text get the longer window.
    extended_drugs: list[str] = Field(default_factory=list)
    # 2.0: a drug matching a name of these classes (brands included) gets it.
    extended_classes: list[str] = Field(default_factory=list)


def _whole_seconds(dt: datetime) -> int:
    return math.floor(dt.timestamp())


@rule("antibiotic_timing", params=AntibioticTiming)
def antibiotic_timing(alert: AlertRule, params: AntibioticTiming, ctx: RuleContext) -> list[Span]:
    """At the watched step (incision): antibiotic missing, or given too long before."""
    at_entry = ctx.first(alert.step)
    if at_entry is None:
        return []
    given = ctx.state.latest(params.antibiotic_step, until=at_entry.at)
    title = ctx.pathway.step(alert.step).title.lower()
    if given is None:
        detail = f"no antibiotic given before {title}"
    else:
        drug = str(given.data.get(params.drug_field, "")).strip().lower()
        medicines = ctx.pathway.medicines
        extended = any(d.lower() in drug for d in params.extended_drugs) or any(
            c.id in params.extended_classes for c in classes_of(drug, medicines)
        )
        limit_min = params.extended_max_min if extended else params.max_min
        gap_s = _whole_seconds(at_entry.at) - _whole_seconds(given.at)
        if gap_s <= limit_min * 60:
            return []
        detail = (
            f"antibiotic given {gap_s // 60} min before {title} "
            f"(should be within {limit_min:g} min; about 30 min is the target)"
        )
    text = message(alert, detail=detail[0].upper() + detail[1:])
    return [Span(severity=alert.severity, step=alert.step, message=text, started_at=at_entry.at)]


class AllergyMatch(RuleParams):
    drug_field: str
    allergy_step: str
    allergy_field: str
    # 2.0: match drug classes and brand names, and ignore short entries that name nothing.
    classes: bool = False


def _allergies(entry: Entry, field: str) -> list[str]:
    raw = entry.data.get(field) or []
    return [str(a).strip() for a in raw if str(a).strip()] if isinstance(raw, list) else []


def _allergy_hit(drug: str, allergy: str, params: AllergyMatch, medicines: Medicines) -> str | None:
    """Why this antibiotic matches this allergy entry, or None."""
    if not params.classes:
        a, d = allergy.lower(), drug.strip().lower()
        return "" if a and d and (a in d or d in a) else None
    names = medicines.names
    if texts_match(drug, allergy, names):
        return ""
    for cls in medicines.drug_classes:
        if in_class(drug, cls, names) and (
            in_class(allergy, cls, names) or texts_match(allergy, cls.id, names)
        ):
            return f" (both {cls.id})"
    return None


@rule("allergy_match", params=AllergyMatch)
def allergy_match(alert: AlertRule, params: AllergyMatch, ctx: RuleContext) -> list[Span]:
    """The antibiotic given matches an allergy recorded at the medication review."""
    given = ctx.first(alert.step)
    review = ctx.state.latest(params.allergy_step, until=ctx.now)
    if given is None or review is None:
        return []
    drug = str(given.data.get(params.drug_field, ""))
    for allergy in _allergies(review, params.allergy_field):
        why = _allergy_hit(drug, allergy, params, ctx.pathway.medicines)
        if why is not None:
            text = message(alert, drug=drug, allergy=allergy, why=why)
            return [
                Span(
                    severity=alert.severity,
                    step=alert.step,
                    message=text,
                    started_at=max(given.at, review.at),
                )
            ]
    return []


class MaterialAllergy(RuleParams):
    allergy_step: str
    allergy_field: str


def material_hits(allergies: Iterable[str], medicines: Medicines) -> list[str]:
    """Titles of the procedure materials that recorded allergies name, in table order."""
    names = medicines.names
    return [
        m.title
        for m in medicines.materials
        if any(texts_match(a, n, names) for a in allergies for n in m.names)
    ]


@rule("material_allergy", params=MaterialAllergy)
def material_allergy(alert: AlertRule, params: MaterialAllergy, ctx: RuleContext) -> list[Span]:
    """An allergy to something the procedure uses: contrast, cement, skin prep, latex…"""

    def reading(review: Entry) -> tuple[bool, dict[str, Any]]:
        hits = material_hits(_allergies(review, params.allergy_field), ctx.pathway.medicines)
        return bool(hits), {"detail": ", ".join(hits)}

    return track_latest(alert, ctx, ctx.entries(params.allergy_step), reading)


class AntithromboticHold(RuleParams):
    list_field: str
    drug_field: str
    dose_field: str


def _hours(delta_s: float) -> str:
    return f"{math.floor(delta_s / 3600)} h"


def not_held(entry: Entry, params: AntithromboticHold, ctx: RuleContext) -> list[str]:
    """One phrase per blood thinner not held long enough before the scheduled start."""
    opened = ctx.state.opened
    if opened is None:
        return []
    raw = entry.data.get(params.list_field) or []
    latest: dict[str, datetime] = {}
    order: list[str] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        drug, dose_at = (
            str(item.get(params.drug_field, "")),
            parse_time(item.get(params.dose_field)),
        )
        if not drug or dose_at is None:
            continue
        if drug not in latest:
            order.append(drug)
            latest[drug] = dose_at
        latest[drug] = max(latest[drug], dose_at)
    phrases: list[str] = []
    holds = ctx.pathway.medicines.holds
    for drug in order:
        hold = holds.get(drug)
        since_s = (opened.scheduled_start - latest[drug]).total_seconds()
        title = (hold.title if hold and hold.title else drug).replace("_", " ")
        if hold is None or hold.hold_h is None:
            phrases.append(f"{title}, {_hours(since_s)} since the last dose: confirm the plan")
        elif since_s < hold.hold_h * 3600:
            phrases.append(
                f"{title}, {_hours(since_s)} since the last dose, {hold.hold_h:g} h needed"
            )
    return phrases


@rule("antithrombotic_hold", params=AntithromboticHold)
def antithrombotic_hold(
    alert: AlertRule, params: AntithromboticHold, ctx: RuleContext
) -> list[Span]:
    """A blood thinner whose last dose is closer to the scheduled start than its hold time."""

    def reading(review: Entry) -> tuple[bool, dict[str, Any]]:
        phrases = not_held(review, params, ctx)
        return bool(phrases), {"detail": "; ".join(phrases)}

    return track_latest(alert, ctx, ctx.entries(alert.step), reading)


class DrugNeedsTest(RuleParams):
    list_field: str
    drug_field: str
    drugs: list[str]
    test_step: str


@rule("drug_needs_test", params=DrugNeedsTest)
def drug_needs_test(alert: AlertRule, params: DrugNeedsTest, ctx: RuleContext) -> list[Span]:
    """A listed drug was taken and the test it needs (an INR for warfarin) is not recorded."""
    tracker = ctx.tracker()
    listed: list[str] = []
    tested = False
    for at, group in grouped(ctx.entries(alert.step, params.test_step)):
        for e in group:
            if e.step == params.test_step:
                tested = True
            else:
                raw = e.data.get(params.list_field) or []
                taken = {
                    str(item.get(params.drug_field))
                    for item in (raw if isinstance(raw, list) else [])
                    if isinstance(item, dict)
                }
                listed = [d for d in params.drugs if d in taken]
        tracker.set(
            at,
            bool(listed) and not tested,
            severity=alert.severity,
            step=alert.step,
            message=message(alert, drugs=", ".join(listed)),
        )
    return tracker.spans
