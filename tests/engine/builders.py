"""Builders for engine tests: one kyphoplasty case driven through the real service (tests room).

`Day` runs a `CaseService` over a `MemoryEventStore` with a clock the test moves. Times are
minutes relative to the scheduled start (08:00 -05:00); the clock is the event's
`recorded_at` and, unless `occurred_at` says otherwise, its clinical `at` too. Standard
valid data for every step lives in `DATA` (`DATA_2_0` for what 2.0 changed); `advance_to`
records the uneventful path. A `Day` runs on kyphoplasty 1.0 unless it names another
version: most engine tests pin the behaviour 1.0 cases keep for ever.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from daycase.engine.commands import (
    Actor,
    AmendEvent,
    OpenCase,
    RecordStep,
    Refusal,
    VoidEvent,
)
from daycase.engine.evaluate import Evaluation
from daycase.engine.events import CaseOpened, Event, EventAmended, EventVoided, StepRecorded
from daycase.engine.fold import CaseState
from daycase.services.cases import CaseService
from daycase.store.memory import MemoryEventStore
from tests.support.checklists import CALL_ALL_WELL

EST = timezone(timedelta(hours=-5))
START = datetime(2026, 11, 26, 8, 0, tzinfo=EST)
SECOND = 1 / 60
"""One second, in minutes: `at_minute=5 + SECOND` is 5 min 1 s."""

Minute = float | datetime


def t(minute: Minute) -> datetime:
    """The instant `minute` minutes after the scheduled start (a datetime passes through)."""
    if isinstance(minute, datetime):
        return minute
    return START + timedelta(minutes=minute)


VITALS: dict[str, Any] = {
    "heart_rate": 74,
    "bp_systolic": 130,
    "bp_diastolic": 80,
    "spo2": 97,
    "resp_rate": 16,
    "temperature_c": 36.8,
}

DATA: dict[str, dict[str, Any]] = {
    "check_in": {
        "identity_confirmed": True,
        "consent_signed": True,
        "last_solids_at": "2026-11-25T22:00:00-05:00",
        "last_clear_fluids_at": "2026-11-26T05:00:00-05:00",
    },
    "preop_vitals": {**VITALS, "pain_score": 6},
    "medication_review": {
        "medications": [{"name": "alendronate", "kind": "prescription"}],
        "allergies": ["latex"],
        "anticoagulant": "none",
    },
    "back_assessment": {
        "pain_score": 7,
        "leg_strength": "normal",
        "leg_sensation": "normal",
        "bladder_bowel": "normal",
    },
    "imaging_review": {"modality": "mri", "levels_confirmed": ["L1"], "findings": "L1 fracture"},
    "blood_tests": {"inr": 1.0, "platelets": 240, "hemoglobin": 12.8, "pregnancy_test": "negative"},
    "anesthesia_consult": {"plan": "local_sedation", "asa_class": 3, "mallampati": 2},
    "antibiotic_given": {"drug": "cefazolin", "dose_mg": 2000, "route": "iv"},
    "anxiolytic_given": {"drug": "midazolam syrup", "dose_mg": 7.5, "route": "oral"},
    "sign_in": {
        "identity_site_procedure_consent_confirmed": True,
        "site_marked": True,
        "anesthesia_check_complete": True,
        "pulse_oximeter_on": True,
        "allergies_known": True,
        "airway_risk_assessed": True,
        "blood_loss_risk_assessed": True,
    },
    "in_room": {},
    "positioned_prone": {},
    "anesthesia_start": {"type": "local_sedation"},
    "site_prepped": {"shaved": False, "draped": True},
    "intraop_vitals": dict(VITALS),
    "time_out": {
        "team_introduced": True,
        "patient_procedure_levels_confirmed": True,
        "imaging_displayed": True,
        "critical_events_reviewed": True,
    },
    "level_confirmed": {"method": "fluoroscopy"},
    "incision": {},
    "trocar_placed": {"approach": "bipedicular"},
    "balloon_inflated": {"max_pressure_psi": 180, "volume_ml": 3.0},
    "balloon_removed": {},
    "cement_injected": {"volume_ml": 4.0, "leakage": "none"},
    "biopsy_taken": {"specimen_label": "A1"},
    "level_abandoned": {"reason": "pedicle too narrow"},
    "final_imaging": {"cement_distribution_ok": True, "leakage": "none"},
    "dressing_applied": {"pressure_applied": True, "sutures": False},
    "sign_out": {
        "procedure_and_levels_recorded": True,
        "counts_correct": True,
        "specimens_labelled": True,
        "equipment_issues_addressed": True,
        "recovery_concerns_handed_over": True,
    },
    "anesthesia_end": {},
    "out_of_room": {},
    "pacu_arrival": {},
    "pacu_vitals": {**VITALS, "pain_score": 3, "sedation": 1},
    "neuro_check": {"leg_strength": "normal", "leg_sensation": "normal", "bladder_bowel": "normal"},
    "aldrete_score": {
        "activity": 2,
        "respiration": 2,
        "circulation": 2,
        "consciousness": 2,
        "oxygen_saturation": 2,
    },
    "complication": {"kind": "nausea", "severity": "minor"},
    "padss_score": {
        "vital_signs": 2,
        "ambulation": 2,
        "nausea_vomiting": 2,
        "pain": 2,
        "surgical_bleeding": 2,
    },
    "discharge_consult": {
        "medications_reviewed": True,
        "physical_therapy": "not_needed",
        "warning_signs_explained": True,
        "instructions_given": True,
    },
    "transport_confirmed": {
        "escort_name": "Sam Lane",
        "escort_present": True,
        "no_driving_acknowledged": True,
    },
    "discharged": {},
    "admitted": {"reason": "pain not controlled"},
    "cancelled": {"reason": "patient unwell"},
}

DATA_2_0: dict[str, dict[str, Any]] = {
    **DATA,
    "medication_review": {
        "medications": [{"name": "alendronate", "kind": "prescription"}],
        "allergies": ["penicillin"],
        "antithrombotics": [],
    },
    "discharge_order": {"post_anesthesia_assessed": True},
    "transferred": {"destination": "County General", "reason": "needs a spine surgeon"},
    "follow_up_call": CALL_ALL_WELL,
}

ROLE: dict[str, str] = {
    "check_in": "front_desk",
    "imaging_review": "proceduralist",
    "anesthesia_consult": "anesthesia",
    "anesthesia_start": "anesthesia",
    "anesthesia_end": "anesthesia",
    "time_out": "proceduralist",
    "level_confirmed": "proceduralist",
    "incision": "proceduralist",
    "trocar_placed": "proceduralist",
    "balloon_inflated": "proceduralist",
    "balloon_removed": "proceduralist",
    "cement_injected": "proceduralist",
    "biopsy_taken": "proceduralist",
    "level_abandoned": "proceduralist",
    "final_imaging": "proceduralist",
    "discharge_order": "proceduralist",
}
"""Who records each step on the uneventful path; any step not named here is a nurse's."""

PER_LEVEL_PROCEDURE = ("trocar_placed", "balloon_inflated", "balloon_removed", "cement_injected")


def role_of(step: str) -> str:
    return ROLE.get(step, "nurse")


def data_for(
    step: str, level: str | None = None, *, version: str = "1.0", **changes: Any
) -> dict[str, Any]:
    """The standard valid data of a step, with a level when given and fields changed."""
    table = DATA_2_0 if version == "2.0" else DATA
    data = dict(table[step] if step in table else DATA_2_0[step])  # 1.0 refuses 2.0's steps
    if level is not None:
        data["level"] = level
    data.update(changes)
    return data


@dataclass(frozen=True, slots=True)
class Planned:
    """One action of the uneventful path: at which minute, which step, which level."""

    minute: float
    step: str
    level: str | None = None


def uneventful_path(levels: Iterable[str], *, version: str = "1.0") -> list[Planned]:
    """Every required step from check-in to arrival in recovery, with fixed times.

    Pre-op runs from -90 to -30, `in_room` is at 0, each level takes 10 min from 14 on;
    with n levels the last cement is at 10n + 10, `out_of_room` 6 min after it, and
    `pacu_arrival` 10 min after it (minute 30 for one level, 40 for two).
    """
    lv = list(levels)
    plan = [
        Planned(-90, "check_in"),
        Planned(-85, "preop_vitals"),
        Planned(-80, "medication_review"),
        Planned(-75, "back_assessment"),
        Planned(-70, "anesthesia_consult"),
        *([Planned(-60, "imaging_review")] if version == "2.0" else []),
        Planned(-40, "sign_in"),
        Planned(-30, "antibiotic_given"),
        Planned(0, "in_room"),
        Planned(2, "positioned_prone"),
        Planned(3, "anesthesia_start"),
        Planned(5, "site_prepped"),
        Planned(7, "time_out"),
    ]
    plan += [Planned(8 + i, "level_confirmed", level) for i, level in enumerate(lv)]
    plan.append(Planned(13, "incision"))
    for i, level in enumerate(lv):
        plan += [
            Planned(14 + 10 * i + 2 * k, step, level) for k, step in enumerate(PER_LEVEL_PROCEDURE)
        ]
    last_cement = 14 + 10 * (len(lv) - 1) + 6
    plan += [
        Planned(last_cement + 1, "final_imaging"),
        Planned(last_cement + 2, "dressing_applied"),
        Planned(last_cement + 3, "sign_out"),
        Planned(last_cement + 4, "anesthesia_end"),
        Planned(last_cement + 6, "out_of_room"),
        Planned(last_cement + 10, "pacu_arrival"),
    ]
    return plan


class Day:
    """One case on one day, driven through `CaseService` with a clock the test sets."""

    def __init__(self, levels: Iterable[str] = ("L1",), *, version: str = "1.0") -> None:
        self.levels = tuple(levels)
        self.version = version
        self.clock = START - timedelta(hours=3)
        self.store = MemoryEventStore()
        ids = itertools.count(1)
        self.service = CaseService(
            self.store,
            clock=lambda: self.clock,
            new_id=lambda: f"id{next(ids)}",
            rng=random.Random(7),
        )
        opened = self.service.open_case(
            OpenCase(
                actor=Actor("fd.kim", "front_desk"),
                pathway_id="kyphoplasty",
                pathway_version=version,
                mrn="H-100234",
                given_name="Ada",
                family_name="Lane",
                birth_date=date(1944, 5, 17),
                sex="female",
                levels=list(self.levels),
                scheduled_start=START,
            )
        )
        assert isinstance(opened, CaseOpened), opened
        self.case_id = opened.case_id
        self.ids: dict[str, str] = {}
        """Event id of the latest accepted entry per step, and per `step@level`."""
        self._path_pos = 0
        self.log: list[tuple[float, str, list[str]]] = []
        """What `observe` saw: `(minute after its origin, phase, sorted active codes)`."""

    # ------------------------------------------------------------------ writing

    def record(
        self,
        role: str,
        step: str,
        at_minute: Minute,
        data: Any = None,
        *,
        occurred_at: Minute | None = None,
        override_reason: str | None = None,
    ) -> StepRecorded | Refusal:
        """Record a step with the clock at `at_minute`; `data` defaults to the standard data."""
        self.clock = t(at_minute)
        result = self.service.record(
            self.case_id,
            RecordStep(
                actor=Actor(f"{role}.user", role),
                step=step,
                at=t(occurred_at) if occurred_at is not None else self.clock,
                data=data_for(step, version=self.version) if data is None else data,
                override_reason=override_reason,
            ),
        )
        if isinstance(result, StepRecorded):
            self.ids[step] = result.event_id
            if result.level:
                self.ids[f"{step}@{result.level}"] = result.event_id
        return result

    def ok(
        self,
        role: str,
        step: str,
        at_minute: Minute,
        data: Any = None,
        *,
        occurred_at: Minute | None = None,
        override_reason: str | None = None,
    ) -> StepRecorded:
        """`record`, asserting it was accepted."""
        result = self.record(
            role, step, at_minute, data, occurred_at=occurred_at, override_reason=override_reason
        )
        assert isinstance(result, StepRecorded), result
        return result

    def step(
        self, step: str, at_minute: Minute, *, level: str | None = None, **changes: Any
    ) -> str:
        """Record a step by its usual role with its standard data; the new event's id."""
        data = data_for(step, level, version=self.version, **changes)
        return self.ok(role_of(step), step, at_minute, data).event_id

    def amend(
        self,
        role: str,
        target: str,
        at_minute: Minute,
        *,
        data: Any = None,
        corrected_at: Minute | None = None,
        reason: str = "typed the wrong value",
        override_reason: str | None = None,
    ) -> EventAmended | Refusal:
        self.clock = t(at_minute)
        return self.service.amend(
            self.case_id,
            AmendEvent(
                actor=Actor(f"{role}.user", role),
                target_event_id=target,
                reason=reason,
                at=t(corrected_at) if corrected_at is not None else None,
                data=data,
                override_reason=override_reason,
            ),
        )

    def void(
        self, role: str, target: str, at_minute: Minute, *, reason: str = "wrong patient"
    ) -> EventVoided | Refusal:
        self.clock = t(at_minute)
        return self.service.void(
            self.case_id,
            VoidEvent(actor=Actor(f"{role}.user", role), target_event_id=target, reason=reason),
        )

    def advance_to(self, last: str, *, skip: Iterable[str] = ()) -> float:
        """Record the uneventful path up to and including `last`; the minute of `last`.

        A later call carries on where the previous one stopped.
        """
        skipped = set(skip)
        path = uneventful_path(self.levels, version=self.version)
        while self._path_pos < len(path):
            action = path[self._path_pos]
            self._path_pos += 1
            if action.step not in skipped:
                self.step(action.step, action.minute, level=action.level)
            if action.step == last and (action.level is None or action.level == self.levels[-1]):
                return action.minute
        raise AssertionError(f"{last} is not ahead on the uneventful path")

    # ------------------------------------------------------------------ reading

    def events(self) -> list[Event]:
        return self.store.load(self.case_id)

    def count(self) -> int:
        return len(self.events())

    def state(self) -> CaseState:
        return self.service.state(self.case_id)

    def evaluate(self, at_minute: Minute) -> Evaluation:
        return self.service.evaluate(self.case_id, now=t(at_minute))[1]

    def active(self, at_minute: Minute) -> list[str]:
        return sorted({a.code for a in self.evaluate(at_minute).alerts if a.active})

    def timeline(
        self, minutes: Iterable[float], *, since: float = 0
    ) -> list[tuple[float, str, list[str]]]:
        """`(minute, phase, sorted active codes)` at each minute after `since`."""
        out: list[tuple[float, str, list[str]]] = []
        for minute in minutes:
            evaluation = self.evaluate(since + minute)
            codes = sorted({a.code for a in evaluation.alerts if a.active})
            out.append((minute, evaluation.phase, codes))
        return out

    def observe(self, *at_minutes: float, since: float = 0) -> None:
        """Evaluate now, as the day goes: append `(minute, phase, active codes)` to `log`.

        Call it between recordings so each reading sees only what was charted by then.
        """
        self.log += self.timeline(at_minutes, since=since)

    def spans(
        self, code: str, at_minute: float, *, since: float = 0
    ) -> list[tuple[float, float | None, str]]:
        """Every alert of `code` at `since + at_minute` as (start, end or None, severity).

        Start and end are minutes after `since`, like the timeline's.
        """
        return [
            (
                minutes(a.started_at) - since,
                minutes(a.ended_at) - since if a.ended_at else None,
                a.severity,
            )
            for a in self.evaluate(since + at_minute).alerts
            if a.code == code
        ]

    def statuses(self, at_minute: Minute, steps: Iterable[str]) -> dict[str, str]:
        evaluation = self.evaluate(at_minute)
        return {s: evaluation.steps[s] for s in steps}


def minutes(instant: datetime) -> float:
    """Minutes after the scheduled start."""
    return (instant - START).total_seconds() / 60


def refusal(result: object) -> Refusal:
    """The refusal a command returned (fails the test when it was accepted)."""
    assert isinstance(result, Refusal), result
    return result


def by_status(statuses: Mapping[str, str], status: str) -> list[str]:
    return sorted(s for s, v in statuses.items() if v == status)
