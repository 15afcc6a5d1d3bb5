"""``synthetic_record(seed)``: a realistic, varied, deterministic FHIR R4 record for an invented patient.

For tests and the sandbox network's synthetic communities. One seeded :class:`random.Random` drives every
choice and dates count back from a fixed day, so the same seed always yields the same resources.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from fhir_facade.ccda.writer import synthetic_codes as t

__all__ = ["synthetic_record"]

TODAY = date(2024, 6, 1)
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
CDC = "urn:oid:2.16.840.1.113883.6.238"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
INHALED = {
    "coding": [
        {
            "system": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl",
            "code": "C38216",
            "display": "Respiratory (inhalation)",
        }
    ]
}
ORAL = {
    "coding": [
        {"system": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl", "code": "C38288", "display": "Oral"}
    ]
}
Resource = dict[str, Any]


def cc(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        concept["text"] = text
    return concept


def status(kind: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"{TERMINOLOGY}{kind}", "code": code}]}


def category(kind: str, code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": f"{TERMINOLOGY}{kind}", "code": code}]}]


class Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not secrets
        self.pid = f"syn{seed}"
        self.subject = {"reference": f"Patient/{self.pid}"}
        self.resources: list[Resource] = []
        self.counter = 0
        self.female = False
        self.birth = TODAY

    def add(self, rtype: str, body: dict[str, Any]) -> Resource:
        self.counter += 1
        resource: Resource = {"resourceType": rtype, "id": f"{self.pid}-{rtype.lower()}-{self.counter}"}
        if rtype not in ("Patient", "Medication"):
            resource["subject" if rtype not in ("AllergyIntolerance", "Immunization") else "patient"] = (
                self.subject
            )
        resource.update(body)
        self.resources.append(resource)
        return resource

    def day(self, earliest: date, latest: date = TODAY) -> date:
        span = max((latest - earliest).days, 0)
        return earliest + timedelta(days=self.rng.randint(0, span))

    def stamp(self, day: date) -> str:
        hour, minute = self.rng.randint(8, 17), self.rng.choice((0, 15, 30, 45))
        return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00-05:00"


def _patient(b: Builder) -> tuple[Resource, date]:
    rng = b.rng
    female = b.female = rng.random() < 0.5
    birth = b.birth = date(TODAY.year - rng.randint(18, 88), rng.randint(1, 12), rng.randint(1, 28))
    city, state, postal, area = rng.choice(t.CITIES)
    race, ethnicity = rng.choice(t.RACES), rng.choice(t.ETHNICITIES)
    given = [rng.choice(t.FEMALE if female else t.MALE)]
    if rng.random() < 0.5:
        given.append(rng.choice(t.FEMALE if female else t.MALE)[0])
    language = ("en", "English") if rng.random() < 0.85 else ("es", "Spanish")
    patient = {
        "resourceType": "Patient",
        "id": b.pid,
        "extension": [
            {
                "url": f"{US_CORE}us-core-race",
                "extension": [
                    {
                        "url": "ombCategory",
                        "valueCoding": {"system": CDC, "code": race[0], "display": race[1]},
                    },
                    {"url": "text", "valueString": race[1]},
                ],
            },
            {
                "url": f"{US_CORE}us-core-ethnicity",
                "extension": [
                    {
                        "url": "ombCategory",
                        "valueCoding": {"system": CDC, "code": ethnicity[0], "display": ethnicity[1]},
                    },
                    {"url": "text", "valueString": ethnicity[1]},
                ],
            },
            {"url": f"{US_CORE}us-core-birthsex", "valueCode": "F" if female else "M"},
        ],
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": f"SYN{b.pid[3:].zfill(6)}"}],
        "name": [{"use": "official", "family": rng.choice(t.FAMILY), "given": given}],
        "telecom": [{"system": "phone", "value": f"+1-{area}-555-01{rng.randint(0, 99):02d}", "use": "home"}],
        "gender": "female" if female else "male",
        "birthDate": birth.isoformat(),
        "address": [
            {
                "use": "home",
                "line": [f"{rng.randint(10, 9999)} {rng.choice(t.STREETS)} Street"],
                "city": city,
                "state": state,
                "postalCode": postal,
                "country": "US",
            }
        ],
        "maritalStatus": cc(
            f"{TERMINOLOGY}v3-MaritalStatus",
            *rng.choice((("M", "Married"), ("S", "Never Married"), ("D", "Divorced"), ("W", "Widowed"))),
        ),
        "communication": [{"language": cc("urn:ietf:bcp:47", *language), "preferred": True}],
    }
    b.resources.append(patient)
    return patient, birth


def problem(b: Builder, row: tuple[Any, ...], onset: date, abated: date | None, kind: str) -> Resource:
    concept = {
        "coding": [
            {"system": SNOMED, "code": row[0], "display": row[1]},
            {"system": ICD10CM, "code": row[2], "display": row[3]},
        ],
        "text": row[1],
    }
    body: dict[str, Any] = {
        "clinicalStatus": status("condition-clinical", "resolved" if abated else "active"),
        "verificationStatus": status("condition-ver-status", "confirmed"),
        "category": category("condition-category", kind),
        "code": concept,
        "onsetDateTime": onset.isoformat(),
        "recordedDate": onset.isoformat(),
    }
    if abated:
        body["abatementDateTime"] = abated.isoformat()
    return b.add("Condition", body)


def medication(b: Builder, drug: tuple[str, str], start: date, end: date | None, frequency: int) -> None:
    concept = cc(RXNORM, drug[0], drug[1])
    times = {1: "once", 2: "twice", 3: "three times"}[frequency]
    inhaled = "Inhaler" in drug[1]
    repeat: dict[str, Any] = {"frequency": frequency, "period": 1, "periodUnit": "d"}
    dosage = {
        "text": f"{'Inhale 1 puff' if inhaled else 'Take 1 by mouth'} {times} daily",
        "route": INHALED if inhaled else ORAL,
        "timing": {"repeat": repeat},
        "doseAndRate": [{"doseQuantity": {"value": 1}}],
    }
    product: dict[str, Any]
    if b.rng.random() < 0.2:
        bundled = b.add("Medication", {"code": concept})
        product = {"medicationReference": {"reference": f"Medication/{bundled['id']}", "display": drug[1]}}
    else:
        product = {"medicationCodeableConcept": concept}
    if b.rng.random() < 0.5:
        period = {"start": start.isoformat(), **({"end": end.isoformat()} if end else {})}
        b.add(
            "MedicationStatement",
            {
                "status": "completed" if end else "active",
                **product,
                "effectivePeriod": period,
                "dosage": [dosage],
            },
        )
    else:
        repeat["boundsPeriod"] = {"start": start.isoformat(), **({"end": end.isoformat()} if end else {})}
        b.add(
            "MedicationRequest",
            {
                "status": "completed" if end else "active",
                "intent": "order",
                **product,
                "authoredOn": start.isoformat(),
                "dosageInstruction": [dosage],
            },
        )


def _allergies(b: Builder) -> None:
    rng = b.rng
    if rng.random() < 0.25:
        b.add(
            "AllergyIntolerance",
            {
                "clinicalStatus": status("allergyintolerance-clinical", "active"),
                "code": cc(SNOMED, "716186003", "No known allergy"),
            },
        )
        return
    pool = [("medication", RXNORM, row) for row in t.DRUG_ALLERGENS]
    pool += [("food", SNOMED, row) for row in t.FOOD_ALLERGENS]
    pool += [("environment", SNOMED, row) for row in t.ENV_ALLERGENS]
    for kind, system, row in rng.sample(pool, rng.randint(1, 3)):
        code = cc(system, *row)
        reaction = rng.choice(t.REACTIONS)
        severity = "severe" if reaction[0] == "39579001" else rng.choice(("mild", "moderate"))
        b.add(
            "AllergyIntolerance",
            {
                "clinicalStatus": status("allergyintolerance-clinical", "active"),
                "verificationStatus": status("allergyintolerance-verification", "confirmed"),
                "type": rng.choice(("allergy", "allergy", "intolerance")),
                "category": [kind],
                "criticality": "high" if severity == "severe" else "low",
                "code": code,
                "onsetDateTime": b.day(TODAY - timedelta(days=9000), TODAY - timedelta(days=400)).isoformat(),
                "reaction": [{"manifestation": [cc(SNOMED, *reaction)], "severity": severity}],
            },
        )


def synthetic_record(seed: int) -> list[dict[str, Any]]:
    """Patient, problems, medications, allergies, immunizations, vitals, labs, procedures, encounters."""
    from fhir_facade.ccda.writer.synthetic_events import add_events

    b = Builder(seed)
    _, birth = _patient(b)
    adult = max(birth + timedelta(days=18 * 365), TODAY - timedelta(days=20 * 365))
    conditions = []
    for row in b.rng.sample(t.CHRONIC, b.rng.randint(1, 4)):
        onset = b.day(adult, TODAY - timedelta(days=500))
        conditions.append(problem(b, row, onset, None, "problem-list-item"))
        if row[4]:
            medication(b, row[4], onset + timedelta(days=b.rng.randint(0, 60)), None, b.rng.choice((1, 1, 2)))
    _allergies(b)
    add_events(b, conditions)
    return b.resources
