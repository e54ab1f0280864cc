"""What a patient reads: where they are, what comes next, the going-home sheet (web room).

Built from the pathway's patient texts and the record only, so a patient page never
carries a staff title, a hidden step (a complication, an admission), an alert, a reason
or free text, and no line says more than the record shows: the stitches line follows
`dressing_applied.sutures`, the medicines line follows the consult, the blood-thinner
lines follow the medication review, the call line needs a pathway with a call step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from daycase.engine.evaluate import Evaluation
from daycase.engine.fold import CaseState
from daycase.engine.gates import terminal_entry
from daycase.pathways.schema import DischargeSheet, Pathway, Step
from daycase.types import JSON


@dataclass(frozen=True, slots=True)
class PatientStep:
    """A step as a patient reads it; `title` is None when the pathway has no plain title."""

    title: str | None
    now: str
    why: str


@dataclass(slots=True)
class Section:
    heading: str
    lines: list[str] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)


def patient_step(step: Step) -> PatientStep:
    return PatientStep(title=step.patient.title, now=step.patient.now, why=step.patient.why)


def now_and_next(
    pathway: Pathway, state: CaseState, ev: Evaluation
) -> tuple[PatientStep | None, PatientStep | None]:
    """The last step done and the next one due, never a hidden step. Once the case is
    closed, its outcome is what happened (unless staff explain it in person: then none)."""
    outcome = terminal_entry(pathway, state)
    if outcome is not None:
        step = pathway.step(outcome.step)
        return (None if step.patient.hidden else patient_step(step)), None
    shown = [s for s in pathway.steps if not s.patient.hidden and s.need != "terminal"]
    done = [s for s in shown if ev.steps[s.id] == "done"]
    last = max(done, key=lambda s: max(e.at for e in state.step_entries(s.id)), default=None)
    upcoming = [s for s in shown if ev.steps[s.id] in ("due", "overdue") and s.need == "required"]
    return (
        patient_step(last) if last else None,
        patient_step(upcoming[0]) if upcoming else None,
    )


def when_text(value: JSON, tz: ZoneInfo) -> str:
    """A recorded time as a patient in the US reads it: "Tuesday, December 9, 2025 at 2:30 PM"."""
    if not isinstance(value, str):
        return ""
    try:
        at = datetime.fromisoformat(value).astimezone(tz)
    except ValueError:
        return value
    hour = at.hour % 12 or 12
    return (
        f"{at:%A}, {at:%B} {at.day}, {at.year} at {hour}:{at:%M} {'AM' if at.hour < 12 else 'PM'}"
    )


def going_home(
    pathway: Pathway, state: CaseState, *, centre: str, phone: str, tz: ZoneInfo
) -> list[Section]:
    """The going-home sheet's sections, each line from the record or the pathway file."""
    sheet = pathway.discharge_sheet
    if sheet is None:
        return []
    consult_entry = state.latest(sheet.consult_step)
    consult = consult_entry.data if consult_entry else {}
    dressing = state.latest(sheet.dressing_step)
    ride = Section("Your ride home", [sheet.ride_home])
    if sheet.no_driving is None:  # a 1.0 sheet: the texts as 1.0 printed them
        return [
            ride,
            Section("Your wound", [sheet.wound_care]),
            Section("Moving about", [sheet.activity]),
            Section("Your medicines", [_medicines_line(sheet, consult)]),
            Section(
                "Physical therapy",
                [
                    sheet.therapy_referred
                    if consult.get("physical_therapy") == "referred"
                    else sheet.therapy_not_needed or ""
                ],
            ),
            Section(
                "Your next visit", [_visit_line(sheet, consult, tz) or sheet.no_follow_up or ""]
            ),
            Section("Call us if", bullets=list(sheet.call_if)),
            Section("Call 911 or go to the emergency room if", bullets=list(sheet.emergency_if)),
        ]
    transport = state.latest(sheet.transport_step)
    if transport and isinstance(transport.data.get("escort_name"), str):
        ride.lines.append(f"Going home with: {transport.data['escort_name']}.")
    sections = [ride, Section("For the next 24 hours", [sheet.no_driving, *_opt(sheet.no_alcohol)])]
    wound = Section("Your wound", [sheet.wound_care])
    if dressing is not None:
        sutures = dressing.data.get("sutures")
        wound.lines += _opt(sheet.stitches if sutures is True else sheet.no_stitches)
    sections += [wound, Section("Moving about", [sheet.activity])]
    medicines = Section(
        "Your medicines", [*_opt(sheet.pain_medicine), _medicines_line(sheet, consult)]
    )
    medicines.lines += _blood_thinner_lines(pathway, state, sheet, consult, tz)
    sections.append(medicines)
    if consult.get("physical_therapy") == "referred":
        sections.append(Section("Physical therapy", [sheet.therapy_referred]))
    visit = _visit_line(sheet, consult, tz)
    if visit:
        sections.append(Section("Your next visit", [visit]))
    if sheet.call_step and pathway.has_step(sheet.call_step) and sheet.nurse_will_call:
        sections.append(Section("Tomorrow", [sheet.nurse_will_call]))
    heading = (sheet.call_centre or "Call us if:").format(centre=centre, phone=phone)
    sections.append(Section(heading.rstrip(":"), bullets=list(sheet.call_if)))
    sections.append(
        Section("Call 911 or go to the emergency room if", bullets=list(sheet.emergency_if))
    )
    return sections


def _opt(line: str | None) -> list[str]:
    return [line] if line else []


def _medicines_line(sheet: DischargeSheet, consult: dict[str, JSON]) -> str:
    reviewed = consult.get("medications_reviewed") is True
    return sheet.medicines_reviewed if reviewed else sheet.medicines_not_reviewed


def _visit_line(sheet: DischargeSheet, consult: dict[str, JSON], tz: ZoneInfo) -> str | None:
    when = when_text(consult.get("follow_up_at"), tz)
    return sheet.follow_up.format(when=when) if when else None


def _blood_thinner_lines(
    pathway: Pathway,
    state: CaseState,
    sheet: DischargeSheet,
    consult: dict[str, JSON],
    tz: ZoneInfo,
) -> list[str]:
    """For each blood thinner of the medication review: when it may restart, as recorded,
    or to ask the doctor who prescribes it."""
    review = state.latest(sheet.medicines_step)
    listed = review.data.get("antithrombotics") if review else None
    if not isinstance(listed, list) or not (
        sheet.blood_thinner_restart and sheet.blood_thinner_ask
    ):
        return []
    holds = pathway.medicines.holds
    names: list[str] = []
    for item in listed:
        drug = item.get("drug") if isinstance(item, dict) else None
        if isinstance(drug, str):
            hold = holds.get(drug)
            name = (hold.title if hold and hold.title else drug).replace("_", " ")
            if name not in names:
                names.append(name)
    when = when_text(consult.get("antithrombotic_restart_at"), tz)
    if when:
        return [sheet.blood_thinner_restart.format(drug=n, when=when) for n in names]
    return [sheet.blood_thinner_ask.format(drug=n) for n in names]
