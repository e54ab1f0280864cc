"""The items of the WHO checklists, the recovery scores and a set of unremarkable vitals,
for tests that fill them in."""

from __future__ import annotations

from daycase.sim.day import SIGN_IN, SIGN_OUT, TIME_OUT

__all__ = ["SIGN_IN", "SIGN_OUT", "TIME_OUT"]

ALDRETE = ("activity", "respiration", "circulation", "consciousness", "oxygen_saturation")
PADSS = ("vital_signs", "ambulation", "nausea_vomiting", "pain", "surgical_bleeding")
NORMAL_LEGS = {"leg_strength": "normal", "leg_sensation": "normal", "bladder_bowel": "normal"}

# Vitals well inside every range and alert threshold of the pathway.
VITALS = {
    "heart_rate": 72,
    "bp_systolic": 130,
    "bp_diastolic": 80,
    "spo2": 97,
    "resp_rate": 14,
    "temperature_c": 36.8,
    "pain_score": 4,
}

# A next-day call that reached the patient and found nothing wrong.
CALL_ALL_WELL: dict[str, bool | int | str] = {
    "reached": True,
    "new_leg_weakness_or_numbness": False,
    "bladder_or_bowel_problem": False,
    "breathing_problem_or_chest_pain": False,
    "fever": False,
    "wound_problem": False,
    "fall": False,
    "pain_score": 3,
    "antithrombotic_restarted": "not_applicable",
    "action": "none",
}
