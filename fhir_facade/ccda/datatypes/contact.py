"""AD → Address and TEL → ContactPoint."""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, child
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.datatypes.time import period

__all__ = ["address", "telecom"]

_ADDRESS_USE: Final[dict[str, str]] = {
    "H": "home",
    "HP": "home",
    "HV": "home",
    "WP": "work",
    "DIR": "work",
    "PUB": "work",
    "TMP": "temp",
    "OLD": "old",
    "BAD": "old",
}
_ADDRESS_TYPE: Final[dict[str, str]] = {"PHYS": "physical", "PST": "postal"}
_ADDRESS_PARTS: Final[dict[str, str]] = {
    "city": "city",
    "state": "state",
    "postalCode": "postalCode",
    "country": "country",
    "county": "district",
}
_TELECOM_USE: Final[dict[str, str]] = {
    "H": "home",
    "HP": "home",
    "HV": "home",
    "WP": "work",
    "DIR": "work",
    "PUB": "work",
    "MC": "mobile",
    "PG": "mobile",
    "TMP": "temp",
    "BAD": "old",
    "OLD": "old",
}
_SCHEMES: Final[dict[str, str]] = {
    "tel": "phone",
    "fax": "fax",
    "mailto": "email",
    "http": "url",
    "https": "url",
    "sms": "sms",
    "x-text-fax": "fax",
    "x-text-tel": "phone",
}


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    value = " ".join(text.split())
    return value or None


def address(element: etree._Element | None, ctx: ConversionContext) -> Json | None:
    """Address of an AD, or ``None`` for a nullFlavor or an address with no parts."""
    if element is None or element.get("nullFlavor") is not None:
        return None
    result: Json = {}
    for use in (element.get("use") or "").split():
        if use in _ADDRESS_USE and "use" not in result:
            result["use"] = _ADDRESS_USE[use]
        elif use in _ADDRESS_TYPE and "type" not in result:
            result["type"] = _ADDRESS_TYPE[use]
    lines = [
        line
        for part in element.iterchildren(V3 + "streetAddressLine")
        if part.get("nullFlavor") is None and (line := _clean("".join(part.itertext())))
    ]
    if lines:
        result["line"] = lines
    for part in element:
        if not isinstance(part.tag, str) or not part.tag.startswith(V3) or part.get("nullFlavor") is not None:
            continue
        target = _ADDRESS_PARTS.get(part.tag[len(V3) :])
        value = _clean(part.text)
        if target and value and target not in result:
            result[target] = value
    if not lines and not any(k in result for k in _ADDRESS_PARTS.values()):
        text = _clean(element.text)
        if not text:
            return None
        result["text"] = text
    useable = period(child(element, "useablePeriod"), ctx)
    if useable:
        result["period"] = useable
    return result


def telecom(element: etree._Element | None) -> Json | None:
    """ContactPoint of a TEL (``tel:``, ``mailto:``, ``fax:``, ``http:``), or ``None`` when empty."""
    if element is None or element.get("nullFlavor") is not None:
        return None
    raw = _clean(element.get("value"))
    if raw is None:
        return None
    scheme, colon, rest = raw.partition(":")
    system = _SCHEMES.get(scheme.lower()) if colon else None
    if system is None:
        value = raw
        system = "email" if "@" in raw else "phone" if any(c.isdigit() for c in raw) else "other"
    else:
        value = rest.removeprefix("//") if system != "url" else raw
        value = value.strip()
        if not value:
            return None
    result: Json = {"system": system, "value": value}
    use = next((_TELECOM_USE[u] for u in (element.get("use") or "").split() if u in _TELECOM_USE), None)
    if use:
        result["use"] = use
    return result
