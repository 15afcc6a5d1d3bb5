"""PQ, IVL_PQ and RTO → FHIR Quantity, Range and Ratio, with UCUM units.

A unit that is already UCUM is kept as ``code`` with the UCUM system; common non-UCUM spellings seen in real
documents are mapped through :data:`UCUM_ALIASES`; anything else stays as the human ``unit`` only, so no
unit is ever invented. Values keep their decimal text in ``unit``-less form as numbers.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import child
from fhir_facade.ccda.context import ConversionContext, Json

__all__ = ["UCUM", "UCUM_ALIASES", "number", "quantity", "range_", "ratio"]

UCUM: Final = "http://unitsofmeasure.org"

UCUM_ALIASES: Final[dict[str, str]] = {
    "mmhg": "mm[Hg]",
    "mm hg": "mm[Hg]",
    "in": "[in_i]",
    "inch": "[in_i]",
    "inches": "[in_i]",
    "lb": "[lb_av]",
    "lbs": "[lb_av]",
    "pounds": "[lb_av]",
    "oz": "[oz_av]",
    "ft": "[ft_i]",
    "degf": "[degF]",
    "deg f": "[degF]",
    "f": "[degF]",
    "°f": "[degF]",
    "degc": "Cel",
    "deg c": "Cel",
    "c": "Cel",
    "°c": "Cel",
    "bpm": "/min",
    "beats/min": "/min",
    "breaths/min": "/min",
    "/minute": "/min",
    "kg/m^2": "kg/m2",
    "years": "a",
    "year": "a",
    "yr": "a",
    "months": "mo",
    "month": "mo",
    "weeks": "wk",
    "days": "d",
    "day": "d",
    "hours": "h",
    "hr": "h",
    "minutes": "min",
}

# UCUM codes are printable ASCII without spaces; the ones below are also common words that are not units.
_UCUM_SHAPE: Final = re.compile(r"^[!-~]+$")
_NOT_UNITS: Final = frozenset(
    {"unknown", "n/a", "na", "none", "null", "each", "tab", "tablet", "cap", "puff"}
)


def number(raw: str | None) -> int | float | None:
    """A decimal value as an int when integral text, else a float; ``None`` when not a number."""
    if raw is None:
        return None
    text = raw.strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if "." not in text and "e" not in text.lower():
        return int(value)
    return float(value)


def _unit(quantity: Json, unit: str | None) -> None:
    if not unit or unit == "1":
        return
    alias = UCUM_ALIASES.get(unit.lower())
    if alias is not None:
        quantity.update(unit=unit, system=UCUM, code=alias)
    elif _UCUM_SHAPE.match(unit) and unit.lower() not in _NOT_UNITS:
        quantity.update(unit=unit, system=UCUM, code=unit)
    else:
        quantity["unit"] = unit


def quantity(element: etree._Element | None, ctx: ConversionContext) -> Json | None:
    """PQ → Quantity; ``None`` for nullFlavor or a missing/unreadable value (the latter reported)."""
    if element is None:
        return None
    raw = element.get("value")
    value = number(raw)
    if value is None:
        if raw is not None and raw.strip():
            ctx.report("warning", "value", "a quantity value is not a number; dropped", element)
        return None
    result: Json = {"value": value}
    _unit(result, (element.get("unit") or "").strip() or None)
    return result


def range_(element: etree._Element | None, ctx: ConversionContext) -> Json | None:
    """IVL_PQ → Range (``low``/``high``); a plain ``@value`` becomes a Range with both ends equal."""
    if element is None:
        return None
    if element.get("value") is not None:
        point = quantity(element, ctx)
        return {"low": point, "high": point} if point else None
    result: Json = {}
    for end in ("low", "high"):
        found = quantity(child(element, end), ctx)
        if found is not None:
            result[end] = found
    return result or None


def ratio(element: etree._Element | None, ctx: ConversionContext) -> Json | None:
    """RTO_PQ_PQ → Ratio; ``None`` unless at least one side has a value."""
    if element is None:
        return None
    result: Json = {}
    for side in ("numerator", "denominator"):
        found = quantity(child(element, side), ctx)
        if found is not None:
            result[side] = found
    return result or None
