"""The code systems and codes the FHIR export uses (fhir room), in one place.

Every code here is a contract with the systems that read the export: the test suite
checks each resource's codes against these tables.
"""

from __future__ import annotations

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CPT = "http://www.ama-assn.org/go/cpt"
SNOMED = "http://snomed.info/sct"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DISCHARGE_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
PROVENANCE_AGENT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
SECURITY_SOURCE = "http://terminology.hl7.org/CodeSystem/security-source-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
PROGRESS_STATUS_EXTENSION = "http://hl7.org/fhir/StructureDefinition/procedure-progressStatus"
PROGRESS_STATUS = "http://hl7.org/fhir/procedure-progress-status-code"
# What LOINC lacks (the Aldrete and PADSS items, the pathway's steps) and daycase's own
# identifiers: URNs, since daycase is software a centre runs, with no web address of its own.
DAYCASE = "urn:daycase"
ALDRETE_SYSTEM = f"{DAYCASE}:aldrete"
PADSS_SYSTEM = f"{DAYCASE}:padss"
STEP_SYSTEM = f"{DAYCASE}:step"

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition"

# Vital signs: (LOINC code, display, UCUM unit, US Core profile).
HEART_RATE = ("8867-4", "Heart rate", "/min", f"{US_CORE}/us-core-heart-rate")
RESP_RATE = ("9279-1", "Respiratory rate", "/min", f"{US_CORE}/us-core-respiratory-rate")
TEMPERATURE = ("8310-5", "Body temperature", "Cel", f"{US_CORE}/us-core-body-temperature")
SPO2 = ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", "")
SPO2_ALSO = ("2708-6", "Oxygen saturation in Arterial blood")
SPO2_PROFILE = f"{US_CORE}/us-core-pulse-oximetry"
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
BP_PROFILE = f"{US_CORE}/us-core-blood-pressure"
SYSTOLIC = ("8480-6", "Systolic blood pressure")
DIASTOLIC = ("8462-4", "Diastolic blood pressure")
VITAL_SIGNS_PROFILE = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
PAIN = ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")
SURVEY_PROFILE = f"{US_CORE}/us-core-observation-survey"

# CPT for percutaneous vertebral augmentation (kyphoplasty) of the first level: thoracic
# 22513, lumbar 22514; each level after the first is 22515, whatever its region.
# Cervical and sacral levels have no kyphoplasty code: text only.
CPT_FIRST = {"T": "22513", "L": "22514"}
CPT_ADDITIONAL = "22515"

# Progress of the procedure as the case moves (extension procedure-progressStatus).
PROGRESS = (
    ("in_room", "in-operating-room", "In Operating Room"),
    ("anesthesia_start", "anesthesia-induced", "Anesthesia Induced"),
    ("incision", "open-incision", "Open Incision"),
    ("dressing_applied", "closed-incision", "Closed Incision"),
    ("pacu_arrival", "in-recovery-room", "In Recovery Room"),
)

# SNOMED CT bone structure of each vertebra, as DICOM lists them (PS3.16, CID 7603
# "Vertebra"); no display is sent (the text names the level). S1 is not in that list:
# text only.
VERTEBRAE: dict[str, str] = {
    "C1": "14806007",
    "C2": "39976000",
    "C3": "113205007",
    "C4": "5329002",
    "C5": "36978003",
    "C6": "36054005",
    "C7": "87391001",
    "T1": "64864005",
    "T2": "53733008",
    "T3": "1626008",
    "T4": "73071006",
    "T5": "56401006",
    "T6": "45296009",
    "T7": "62487009",
    "T8": "11068009",
    "T9": "82687006",
    "T10": "7610001",
    "T11": "12989004",
    "T12": "23215003",
    "L1": "66794005",
    "L2": "14293000",
    "L3": "36470004",
    "L4": "11994002",
    "L5": "49668003",
}
