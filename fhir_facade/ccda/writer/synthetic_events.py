"""The dated part of a synthetic record: encounters with their vitals and labs, immunizations, procedures."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from fhir_facade.ccda.writer import synthetic_codes as t
from fhir_facade.ccda.writer.synthetic import (
    LOINC,
    SNOMED,
    TERMINOLOGY,
    TODAY,
    UCUM,
    Builder,
    Resource,
    category,
    cc,
    medication,
    problem,
)

__all__ = ["add_events"]

CVX = "http://hl7.org/fhir/sid/cvx"
INTERPRETATION = f"{TERMINOLOGY}v3-ObservationInterpretation"
_INTERPRETATION = {"H": "High", "L": "Low", "N": "Normal"}
IM = {
    "coding": [
        {
            "system": "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl",
            "code": "C28161",
            "display": "Intramuscular",
        }
    ]
}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _flag(value: float, low: float, high: float) -> list[dict[str, Any]]:
    code = "H" if value > high else "L" if value < low else "N"
    return [cc(INTERPRETATION, code, _INTERPRETATION[code])]


def _vital(b: Builder, when: str, code: str, display: str, value: float, unit: str) -> None:
    b.add(
        "Observation",
        {
            "status": "final",
            "category": category("observation-category", "vital-signs"),
            "code": cc(LOINC, code, display),
            "effectiveDateTime": when,
            "valueQuantity": _quantity(value, unit),
        },
    )


def _vitals(b: Builder, when: str, height: float, bmi: float) -> None:
    rng = b.rng
    weight = round(bmi * (height / 100) ** 2 + rng.uniform(-1.5, 1.5), 1)
    _vital(b, when, "8302-2", "Body height", height, "cm")
    _vital(b, when, "29463-7", "Body weight", weight, "kg")
    _vital(
        b, when, "39156-5", "Body mass index (BMI) [Ratio]", round(weight / (height / 100) ** 2, 1), "kg/m2"
    )
    systolic, diastolic = rng.randint(104, 152), rng.randint(62, 94)
    components = [
        {
            "code": cc(LOINC, "8480-6", "Systolic blood pressure"),
            "valueQuantity": _quantity(systolic, "mm[Hg]"),
            "interpretation": _flag(systolic, 90, 139),
        },
        {
            "code": cc(LOINC, "8462-4", "Diastolic blood pressure"),
            "valueQuantity": _quantity(diastolic, "mm[Hg]"),
            "interpretation": _flag(diastolic, 60, 89),
        },
    ]
    b.add(
        "Observation",
        {
            "status": "final",
            "category": category("observation-category", "vital-signs"),
            "code": cc(LOINC, "85354-9", "Blood pressure panel with all children optional"),
            "effectiveDateTime": when,
            "component": components,
        },
    )
    _vital(b, when, "8867-4", "Heart rate", rng.randint(56, 98), "/min")
    _vital(b, when, "9279-1", "Respiratory rate", rng.randint(12, 20), "/min")
    _vital(b, when, "8310-5", "Body temperature", round(rng.uniform(36.3, 37.4), 1), "Cel")
    _vital(
        b, when, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", rng.randint(94, 100), "%"
    )


def _lab(b: Builder, row: tuple[Any, ...], when: str) -> Resource:
    code, display, unit, low, high, mean, sd = row
    decimals = 1 if any(isinstance(v, float) for v in (low, high, mean)) or mean < 20 else 0
    value: float = round(max(b.rng.gauss(mean, sd), mean / 4), decimals)
    value = int(value) if decimals == 0 else value
    reference: dict[str, Any] = {"high": _quantity(high, unit)}
    if low > 0:
        reference["low"] = _quantity(low, unit)
    return b.add(
        "Observation",
        {
            "status": "final",
            "category": category("observation-category", "laboratory"),
            "code": cc(LOINC, code, display),
            "effectiveDateTime": when,
            "valueQuantity": _quantity(value, unit),
            "interpretation": _flag(value, low, high),
            "referenceRange": [reference],
        },
    )


def _panel(b: Builder, panel: tuple[Any, ...], when: str) -> None:
    members = [_lab(b, row, when) for row in panel[2]]
    b.add(
        "DiagnosticReport",
        {
            "status": "final",
            "category": [cc("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")],
            "code": cc(LOINC, panel[0], panel[1]),
            "effectiveDateTime": when,
            "issued": when,
            "result": [{"reference": f"Observation/{m['id']}"} for m in members],
        },
    )


def _immunizations(b: Builder, age: int) -> None:
    rng = b.rng
    given: list[tuple[str, date]] = [
        ("flu", date(year, rng.randint(9, 11), rng.randint(1, 28)))
        for year in range(TODAY.year - 3, TODAY.year)
        if rng.random() < 0.75
    ]
    given.append(("tdap", b.day(TODAY - timedelta(days=3650))))
    if rng.random() < 0.7:
        given.append(("covid", b.day(date(2021, 3, 1), date(2023, 12, 1))))
    if age >= 65:
        given.append(("pneumo", b.day(TODAY - timedelta(days=1500))))
    if age >= 50 and rng.random() < 0.5:
        given.append(("zoster", b.day(TODAY - timedelta(days=1200))))
    for name, day in sorted(given, key=lambda item: item[1]):
        b.add(
            "Immunization",
            {
                "status": "completed",
                "vaccineCode": cc(CVX, *t.VACCINES[name]),
                "occurrenceDateTime": day.isoformat(),
                "primarySource": True,
                "lotNumber": f"{rng.choice('ABCDEFGHJK')}{rng.randint(1000, 99999)}",
                "route": IM,
                "doseQuantity": _quantity(0.5, "mL"),
            },
        )
    if rng.random() < 0.3:
        reason = rng.choice((("PATOBJ", "patient objection"), ("PHILISOP", "philosophical objection")))
        b.add(
            "Immunization",
            {
                "status": "not-done",
                "statusReason": cc(f"{TERMINOLOGY}v3-ActReason", *reason),
                "vaccineCode": cc(CVX, *t.VACCINES[rng.choice(("hepb", "covid"))]),
                "occurrenceDateTime": b.day(TODAY - timedelta(days=700)).isoformat(),
                "primarySource": True,
            },
        )


def add_events(b: Builder, chronic: list[Resource]) -> None:
    """Encounters (some diagnosing acute problems), vitals, labs, immunizations, procedures, smoking."""
    rng = b.rng
    height = round(rng.gauss(163 if b.female else 177, 6), 1)
    bmi = rng.uniform(20, 34)
    codes = {c["coding"][0]["code"] for c in (r["code"] for r in chronic)}
    acute = rng.sample(t.ACUTE, 2)
    days = sorted(
        {b.day(TODAY - timedelta(days=1800), TODAY - timedelta(days=10)) for _ in range(rng.randint(3, 6))}
    )
    for i, day in enumerate(days):
        kind = t.ENCOUNTER_TYPES[0] if i % 2 == 0 else t.ENCOUNTER_TYPES[1 + (i // 2) % 2]
        start = datetime.fromisoformat(b.stamp(day))
        diagnoses: list[Resource] = []
        if kind[0] == "185345009" and acute:
            row = acute.pop()
            diagnoses.append(problem(b, row, day, day + timedelta(days=14), "encounter-diagnosis"))
            if row[4]:
                medication(b, row[4], day, day + timedelta(days=10), 3)
        elif kind[0] == "390906007":
            diagnoses.append(rng.choice(chronic))
        b.add(
            "Encounter",
            {
                "status": "finished",
                "class": {"system": f"{TERMINOLOGY}v3-ActCode", "code": "AMB", "display": "ambulatory"},
                "type": [cc(SNOMED, *kind)],
                "period": {"start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat()},
                "diagnosis": [
                    {"condition": {"reference": f"Condition/{d['id']}"}, "rank": 1} for d in diagnoses
                ],
            },
        )
        if kind[0] == "185349003" or rng.random() < 0.6:
            _vitals(b, start.isoformat(), height, bmi)
        if kind[0] == "185349003":
            _panel(b, t.LABS[0], start.isoformat())
            _panel(b, t.LABS[1], start.isoformat())
            if "55822004" in codes or rng.random() < 0.4:
                _panel(b, t.LABS[2], start.isoformat())
            if "44054006" in codes:
                _lab(b, t.HBA1C, start.isoformat())
    _immunizations(b, TODAY.year - b.birth.year)
    for code, display in rng.sample(t.PROCEDURES, rng.randint(0, 2)):
        when = b.stamp(b.day(TODAY - timedelta(days=3000)))
        b.add(
            "Procedure", {"status": "completed", "code": cc(SNOMED, code, display), "performedDateTime": when}
        )
    smoking = rng.choices(t.SMOKING, weights=[row[2] for row in t.SMOKING])[0]
    b.add(
        "Observation",
        {
            "status": "final",
            "category": category("observation-category", "social-history"),
            "code": cc(LOINC, "72166-2", "Tobacco smoking status"),
            "effectiveDateTime": days[-1].isoformat(),
            "valueCodeableConcept": cc(SNOMED, smoking[0], smoking[1]),
        },
    )
