"""TS and IVL_TS → FHIR date, dateTime, instant and Period.

HL7 v3 timestamps are ``YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+|-ZZzz]``; FHIR wants ``YYYY-MM-DDThh:mm:ss+zz:zz``
and a timezone whenever there is a time. What real documents send and what happens to it:

* ``2024``, ``202401``, ``20240105``, ``20240105143000.25-0500``: same precision (an hour-only time gets
  ``:00:00``, since FHIR times need seconds);
* a time without a timezone: kept at date precision (FHIR has no local times), counted;
* ``+05``, ``-500``, ``+05:00``: offset repaired to ``+05:00`` / ``-05:00``, counted;
* an impossible offset (``+2500``): kept at date precision, counted;
* 13, 11, 9... digits: cut back to the last whole unit (``2024010512345`` → minutes), counted;
* month 13, 30 February, hour 24: lowered to the last valid unit (``20240230`` → ``2024-02``), counted;
* year 0, letters, empty: dropped and reported.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from typing import Final, Literal

from lxml import etree

from fhir_facade.ccda.cda import child
from fhir_facade.ccda.context import ConversionContext, Json

__all__ = ["Ts", "effective", "parse_ts", "period", "to_date", "to_instant", "ts", "ts_value"]

_SHAPE: Final = re.compile(r"^(\d+)(?:\.(\d*))?\s*(Z|[+-]\d{1,2}:?\d{0,2})?$")
_VALID_LENGTHS: Final = (14, 12, 10, 8, 6, 4)

Lowering = Literal["no-timezone", "offset", "offset-repaired", "digits", "calendar"]

_MESSAGES: Final[dict[str, str]] = {
    "no-timezone": "timestamps had a time but no timezone and were kept at date precision",
    "offset": "timestamps had an impossible timezone offset and were kept at date precision",
    "offset-repaired": "timestamps had a malformed timezone offset that was repaired (e.g. -500 → -05:00)",
    "digits": "timestamps had an incomplete last unit (e.g. 13 digits) and were cut to the last whole unit",
    "calendar": "timestamps had an impossible date or time and were lowered to the last valid unit",
}


@dataclass(frozen=True, slots=True)
class Ts:
    """A parsed timestamp: the FHIR ``dateTime`` string (``None`` when nothing could be kept), what
    changed."""

    value: str | None
    lowered: tuple[Lowering, ...] = ()
    full: bool = False
    """Seconds and a timezone are present: usable as a FHIR ``instant``."""


@functools.lru_cache(maxsize=4096)
def parse_ts(raw: str) -> Ts:
    """Parse an HL7 v3 TS value; never raises (see the module docstring for every outcome).

    Memoized: a document repeats its timestamps (the document time on every entry, the same onset), and the
    result is immutable.
    """
    match = _SHAPE.match(raw.strip())
    if match is None:
        return Ts(None)
    digits, fraction, zone = match.groups()
    lowered: list[Lowering] = []
    length = next((n for n in _VALID_LENGTHS if n <= len(digits)), 0)
    if length != len(digits):
        lowered.append("digits")
        fraction = None
    digits = digits[:length]
    parts = [int(digits[i : i + 2 if i else 4]) for i in (0, 4, 6, 8, 10, 12) if i < len(digits)]
    valid = _valid_prefix(parts)
    if valid < len(parts):
        lowered.append("calendar")
        parts = parts[:valid]
        fraction = None
    if not parts:
        return Ts(None, tuple(lowered))
    date = "-".join(f"{p:04d}" if i == 0 else f"{p:02d}" for i, p in enumerate(parts[:3]))
    if len(parts) <= 3:
        return Ts(date, tuple(lowered))
    offset = _offset(zone, lowered)
    if offset is None:
        return Ts(date, tuple(lowered))
    hour, minute, second = ([*parts[3:], 0, 0])[:3]
    clock = f"{hour:02d}:{minute:02d}:{second:02d}"
    if fraction and len(parts) == 6:
        clock += "." + fraction
    return Ts(f"{date}T{clock}{offset}", tuple(lowered), full=len(parts) == 6)


def _valid_prefix(parts: list[int]) -> int:
    """How many leading components form a real calendar date and clock time."""
    limits = ((1, 9999), (1, 12), (1, 31), (0, 23), (0, 59), (0, 59))
    for index, value in enumerate(parts):
        low, high = limits[index]
        if index == 2:
            high = calendar.monthrange(parts[0], parts[1])[1]
        if not low <= value <= high:
            return index
    return len(parts)


def _offset(zone: str | None, lowered: list[Lowering]) -> str | None:
    if zone is None:
        lowered.append("no-timezone")
        return None
    if zone == "Z":
        return "Z"
    sign, body = zone[0], zone[1:].replace(":", "")
    if len(body) in (1, 2):  # hours only
        hours, minutes = int(body), 0
    elif len(body) == 3:  # -500: one-digit hour
        hours, minutes = int(body[0]), int(body[1:])
    else:
        hours, minutes = int(body[:2]), int(body[2:])
    if minutes > 59 or hours > 14 or (hours == 14 and minutes):
        lowered.append("offset")
        return None
    if len(body) != 4 or ":" in zone:
        lowered.append("offset-repaired")
    return f"{sign}{hours:02d}:{minutes:02d}"


def _report(result: Ts, element: etree._Element, ctx: ConversionContext) -> str | None:
    # Messages name what happened and where, never the value itself (a birth date is PHI).
    if result.value is None:
        ctx.report("warning", "value", "a timestamp could not be read and was dropped", element)
        return None
    for kind in result.lowered:
        ctx.tally("ts-" + kind, element, _MESSAGES[kind])
    return result.value


def ts(element: etree._Element | None, ctx: ConversionContext) -> str | None:
    """FHIR ``dateTime`` of a TS element's ``@value`` (``None`` for nullFlavor or absence)."""
    if element is None:
        return None
    raw = element.get("value")
    if raw is None or not raw.strip():
        return None
    return _report(parse_ts(raw), element, ctx)


def to_date(value: str | None) -> str | None:
    """The date part of a FHIR dateTime (for ``date`` elements such as ``Patient.birthDate``)."""
    return value[:10] if value else None


def to_instant(element: etree._Element | None) -> str | None:
    """A FHIR ``instant`` when the TS has seconds and a timezone, else ``None`` (no partial instants)."""
    if element is None or not element.get("value"):
        return None
    result = parse_ts(element.get("value", ""))
    return result.value if result.full else None


def ts_value(element: etree._Element | None, ctx: ConversionContext) -> str | None:
    """The point in time an IVL_TS or TS stands for: ``@value``, else ``center``, else ``low``."""
    if element is None:
        return None
    if element.get("value"):
        return ts(element, ctx)
    return ts(child(element, "center"), ctx) or ts(child(element, "low"), ctx)


def period(element: etree._Element | None, ctx: ConversionContext) -> Json | None:
    """IVL_TS → Period (``@value`` alone is a period starting then); ``None`` when empty."""
    if element is None:
        return None
    start = ts(element, ctx) if element.get("value") else ts(child(element, "low"), ctx)
    if start is None:
        start = ts(child(element, "center"), ctx)
    end = ts(child(element, "high"), ctx)
    result: Json = {}
    if start:
        result["start"] = start
    if end:
        result["end"] = end
    return result or None


def effective(element: etree._Element | None, ctx: ConversionContext) -> tuple[str, str | Json] | None:
    """``("DateTime", value)`` for a point in time, ``("Period", period)`` for an interval, else ``None``.

    Callers add the suffix to their choice element: ``resource["effective" + kind] = value``.
    """
    if element is None:
        return None
    if element.get("value") or (child(element, "low") is None and child(element, "high") is None):
        point = ts_value(element, ctx)
        return ("DateTime", point) if point else None
    found = period(element, ctx)
    if found is None:
        return None
    if found.get("start") is not None and found.get("start") == found.get("end"):
        return ("DateTime", found["start"])
    return ("Period", found)
