"""One patient's kyphoplasty day as timed actions (simulation room).

The one source of "a day of actions": the demo and the benchmarks replay it through the
case service, the tests through theirs, and the simulation drives the engine with it to
find when each step may first happen (`daycase.sim.probe`). Timings vary with the random
generator given, so no two days look alike; every value is one the pathway accepts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from daycase.types import JSON, JSONObject


@dataclass(frozen=True, slots=True)
class Planned:
    """One action of a scripted day: minutes after arrival, who, which step, with what data."""

    minute: float
    role: str
    step: str
    data: JSONObject = field(default_factory=dict)
    override_reason: str | None = None


def _vitals(
    rng: random.Random, *, pain: bool = True, sedation: bool = False, systolic: int | None = None
) -> JSONObject:
    # 124-150: a drop from the first pre-op reading stays under the 20 % that 2.0 alerts on.
    sys_bp = systolic if systolic is not None else rng.randint(124, 150)
    data: JSONObject = {
        "heart_rate": rng.randint(62, 92),
        "bp_systolic": sys_bp,
        "bp_diastolic": rng.randint(66, min(90, sys_bp - 20)),
        "spo2": rng.randint(95, 99),
        "resp_rate": rng.randint(12, 18),
        "temperature_c": round(rng.uniform(36.4, 37.2), 1),
    }
    if pain:
        data["pain_score"] = rng.randint(1, 6)
    if sedation:
        data["sedation"] = rng.randint(0, 1)
    return data


# The items of the WHO checklists (every one confirmed on the day), as the pathway names
# them; tests that fill the checklists in take them from here too.
SIGN_IN = (
    "identity_site_procedure_consent_confirmed",
    "site_marked",
    "anesthesia_check_complete",
    "pulse_oximeter_on",
    "allergies_known",
    "airway_risk_assessed",
    "blood_loss_risk_assessed",
)
TIME_OUT = (
    "team_introduced",
    "patient_procedure_levels_confirmed",
    "imaging_displayed",
    "critical_events_reviewed",
)
SIGN_OUT = (
    "procedure_and_levels_recorded",
    "counts_correct",
    "specimens_labelled",
    "equipment_issues_addressed",
    "recovery_concerns_handed_over",
)


def _all_true(*names: str) -> JSONObject:
    """A WHO checklist with every item confirmed."""
    return dict.fromkeys(names, True)


def _medication_review(rng: random.Random, arrival: datetime, version: str) -> JSONObject:
    """1.0 asked whether an anticoagulant was held; 2.0 lists each blood thinner's last dose."""
    medications: list[JSON] = [
        {"name": "alendronate", "kind": "prescription"},
        {"name": "vitamin D", "kind": "supplement"},
    ]
    if version == "1.0":
        return {
            "medications": list(medications),
            "allergies": list(rng.choice([[], ["penicillin"], ["latex"]])),
            "anticoagulant": rng.choice(["none", "none", "held"]),
        }
    thinners: list[JSON] = rng.choice(
        [
            [],
            [],
            [{"drug": "apixaban", "last_dose_at": (arrival - timedelta(hours=80)).isoformat()}],
            [
                {
                    "drug": "aspirin_secondary_prevention",
                    "last_dose_at": (arrival - timedelta(hours=14)).isoformat(),
                }
            ],
        ]
    )
    return {
        "medications": list(medications),
        "allergies": list(rng.choice([[], ["penicillin"], ["sulfa"]])),
        "antithrombotics": thinners,
    }


def day_script(
    levels: list[str],
    arrival: datetime,
    rng: random.Random,
    *,
    variant: str = "",
    version: str = "2.0",
) -> list[Planned]:
    """A whole kyphoplasty day for one patient, from check-in to discharge (or admission).

    Variants: `late_antibiotic` (given 70 min before incision), `override` (a proceduralist
    takes the patient out before the cement rest is over), `admitted` (a major complication),
    `long` (a slow procedure that runs long), `bp_drop` (low pressure in recovery). On 2.0
    the day also has what 2.0 asks: blood thinners by drug and last dose, neuro checks
    every 30 min in recovery, and a physician's discharge order.
    """

    def j() -> float:
        """A little jitter, so no two days look alike."""
        return rng.uniform(0, 3)

    def iso(minutes: float) -> str:
        return (arrival + timedelta(minutes=minutes)).isoformat()

    s: list[Planned] = [
        Planned(
            0,
            "front_desk",
            "check_in",
            {
                "identity_confirmed": True,
                "consent_signed": True,
                "last_solids_at": iso(-rng.randint(9, 13) * 60),
                "last_clear_fluids_at": iso(-rng.randint(150, 240)),
                "escort_name": "Family member",
                "escort_phone": "555-0100",
            },
        ),
        Planned(8 + j(), "nurse", "preop_vitals", _vitals(rng)),
        Planned(14 + j(), "nurse", "medication_review", _medication_review(rng, arrival, version)),
        Planned(
            18 + j(),
            "nurse",
            "back_assessment",
            {
                "pain_score": rng.randint(5, 9),
                "leg_strength": "normal",
                "leg_sensation": "normal",
                "bladder_bowel": "normal",
            },
        ),
        Planned(
            22 + j(),
            "nurse",
            "blood_tests",
            {
                "inr": round(rng.uniform(0.9, 1.3), 1),
                "platelets": rng.randint(150, 350),
                "hemoglobin": round(rng.uniform(11.5, 14.5), 1),
                "pregnancy_test": "not_applicable",
            },
        ),
        Planned(
            26 + j(),
            "proceduralist",
            "imaging_review",
            {
                "modality": rng.choice(["xray", "mri"]),
                "levels_confirmed": list(levels),
                "findings": "Compression fracture as planned",
            },
        ),
        Planned(
            32 + j(),
            "anesthesia",
            "anesthesia_consult",
            {
                "plan": "local_sedation",
                "asa_class": rng.randint(2, 3),
                "mallampati": rng.randint(1, 3),
            },
        ),
        Planned(
            20 if variant == "late_antibiotic" else 50,
            "nurse",
            "antibiotic_given",
            {"drug": "cefazolin", "dose_mg": 2000, "route": "iv"},
        ),
        Planned(
            52,
            "nurse",
            "anxiolytic_given",
            {"drug": "midazolam syrup", "dose_mg": 7.5, "route": "oral"},
        ),
        Planned(
            55,
            "nurse",
            "sign_in",
            _all_true(*SIGN_IN),
        ),
        Planned(60, "nurse", "in_room"),
        Planned(63, "nurse", "positioned_prone"),
        Planned(65, "anesthesia", "anesthesia_start", {"type": "local_sedation"}),
        Planned(68, "nurse", "site_prepped", {"shaved": True, "draped": True}),
        Planned(
            72,
            "proceduralist",
            "time_out",
            _all_true(*TIME_OUT),
        ),
    ]
    s += [
        Planned(74 + i, "proceduralist", "level_confirmed", {"level": lv, "method": "fluoroscopy"})
        for i, lv in enumerate(levels)
    ]
    s.append(Planned(80, "proceduralist", "incision"))
    t = 82.0
    per_level = 25.0 if variant == "long" else 12.0
    for lv in levels:
        s += [
            Planned(
                t,
                "proceduralist",
                "trocar_placed",
                {"level": lv, "approach": rng.choice(["unipedicular", "bipedicular"])},
            ),
            Planned(
                t + 3,
                "proceduralist",
                "balloon_inflated",
                {
                    "level": lv,
                    "max_pressure_psi": rng.randint(150, 300),
                    "volume_ml": round(rng.uniform(2, 4), 1),
                },
            ),
            Planned(t + 6, "proceduralist", "balloon_removed", {"level": lv}),
            Planned(
                t + 8,
                "proceduralist",
                "cement_injected",
                {"level": lv, "volume_ml": round(rng.uniform(3, 6), 1), "leakage": "none"},
            ),
        ]
        t += per_level
    last_cement = t - per_level + 8
    s += [
        Planned(m, "anesthesia", "intraop_vitals", _vitals(rng, pain=False))
        for m in range(70, int(last_cement), 5)
    ]
    s += [
        Planned(
            last_cement + 2,
            "proceduralist",
            "final_imaging",
            {"cement_distribution_ok": True, "leakage": "none"},
        ),
        Planned(
            last_cement + 3,
            "nurse",
            "dressing_applied",
            {"pressure_applied": True, "sutures": False},
        ),
        Planned(
            last_cement + 4,
            "nurse",
            "sign_out",
            _all_true(*SIGN_OUT),
        ),
        Planned(last_cement + 4, "anesthesia", "anesthesia_end"),
    ]
    if variant == "override":
        s.append(
            Planned(
                last_cement + 4,
                "proceduralist",
                "out_of_room",
                override_reason="Patient restless; moving to recovery with the anaesthetist",
            )
        )
    else:
        s.append(Planned(last_cement + 6 + j(), "nurse", "out_of_room"))
    arrive = last_cement + 10
    s.append(Planned(arrive, "nurse", "pacu_arrival"))
    low = variant == "bp_drop"
    s += [
        Planned(
            arrive + m,
            "nurse",
            "pacu_vitals",
            _vitals(rng, sedation=True, systolic=100 if low and m == 15 else None),
        )
        for m in (0, 15, 30, 45, 60)
    ]
    s += [
        Planned(
            arrive + m,
            "nurse",
            "neuro_check",
            {"leg_strength": "normal", "leg_sensation": "normal", "bladder_bowel": "normal"},
        )
        for m in ((5, 45) if version == "1.0" else (5, 33, 60))
    ]
    s += [
        Planned(
            arrive + m,
            "nurse",
            "aldrete_score",
            {
                "activity": 2,
                "respiration": 2,
                "circulation": 2,
                "consciousness": c,
                "oxygen_saturation": 2,
            },
        )
        for m, c in ((10, 1), (40, 2))
    ]
    if variant == "admitted":
        s.append(
            Planned(
                arrive + 25,
                "nurse",
                "complication",
                {"kind": "new_back_pain", "severity": "major", "note": "Severe new pain"},
            )
        )
        s = [p for p in s if p.minute < arrive + 50]
        s.append(
            Planned(
                arrive + 50,
                "proceduralist",
                "admitted",
                {"reason": "Observation overnight for new back pain"},
            )
        )
        return sorted(s, key=lambda p: p.minute)
    s += [
        Planned(
            arrive + 48,
            "nurse",
            "discharge_consult",
            {
                "medications_reviewed": True,
                "physical_therapy": rng.choice(["referred", "not_needed"]),
                "warning_signs_explained": True,
                "instructions_given": True,
                "follow_up_at": (arrival + timedelta(days=14)).isoformat(),
            },
        ),
        Planned(
            arrive + 50,
            "nurse",
            "padss_score",
            {
                "vital_signs": 2,
                "ambulation": 2,
                "nausea_vomiting": 2,
                "pain": rng.randint(1, 2),
                "surgical_bleeding": 2,
            },
        ),
        Planned(
            arrive + 52,
            "nurse",
            "transport_confirmed",
            {
                "escort_name": "Family member",
                "escort_present": True,
                "no_driving_acknowledged": True,
            },
        ),
        Planned(arrive + 62 + j(), "nurse", "discharged"),
    ]
    if version != "1.0":
        s.append(
            Planned(
                arrive + 55,
                "proceduralist",
                "discharge_order",
                {"post_anesthesia_assessed": True},
            )
        )
    return sorted(s, key=lambda p: p.minute)


class ScriptClock:
    """The clock of a scripted day (the demo's, the scenario runner's): set to each
    entry's moment, so each is recorded as it happens."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
