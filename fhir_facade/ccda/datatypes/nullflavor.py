"""nullFlavor → FHIR data-absent-reason, for the elements US Core requires even when the source has
nothing."""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.context import Json

__all__ = ["DATA_ABSENT_REASON", "absent_reason", "data_absent"]

DATA_ABSENT_REASON: Final = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

_REASONS: Final[dict[str, str]] = {
    "NI": "unknown",
    "UNK": "unknown",
    "ASKU": "asked-unknown",
    "NAV": "temp-unknown",
    "NASK": "not-asked",
    "MSK": "masked",
    "NA": "not-applicable",
    "NP": "unknown",
    "OTH": "unsupported",
    "NINF": "negative-infinity",
    "PINF": "positive-infinity",
    "QS": "unknown",
    "TRC": "unknown",
    "INV": "error",
    "DER": "unknown",
}


def absent_reason(element: etree._Element | None) -> str:
    """The data-absent-reason code for an element's nullFlavor (``unknown`` when absent or unmapped)."""
    flavor = element.get("nullFlavor") if element is not None else None
    return _REASONS.get((flavor or "UNK").strip(), "unknown")


def data_absent(element: etree._Element | None) -> Json:
    """The data-absent-reason extension object for an element that could not be converted."""
    return {"url": DATA_ABSENT_REASON, "valueCode": absent_reason(element)}
