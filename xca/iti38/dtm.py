"""XDS date/times: HL7 DTM ``YYYY[MM[DD[hh[mm[ss]]]]]`` in UTC with the precision kept (ITI TF-3 4.2.3.1.7).

``20200101`` and ``20200101000000`` are different values: the first says "some time that day". Building is
strict; :func:`read_dtm` is tolerant of the zones and fractions real peers send and reports what was odd.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Final

from xca.errors import InvalidValueError

__all__ = ["Dtm", "Precision", "read_dtm"]

_DIGITS: Final = re.compile(r"^\d{4}(\d{2}){0,5}$")
_LOOSE: Final = re.compile(r"^(?P<digits>\d{4}(?:\d{2}){0,5})(?P<fraction>\.\d+)?(?P<zone>[+-]\d{4}|Z)?$")


class Precision(IntEnum):
    """How many DTM digits were given."""

    YEAR = 4
    MONTH = 6
    DAY = 8
    HOUR = 10
    MINUTE = 12
    SECOND = 14


@dataclass(frozen=True)
class Dtm:
    """A UTC instant and the precision it was stated with; ``moment`` is truncated to that precision."""

    moment: datetime
    precision: Precision

    def __post_init__(self) -> None:
        if self.moment.tzinfo is None or self.moment.utcoffset() != timedelta(0):
            raise InvalidValueError("XDS date/times are UTC: give an aware datetime in UTC")

    @classmethod
    def parse(cls, text: str) -> Dtm:
        """Strict read of ``YYYY[MM[DD[hh[mm[ss]]]]]``; raises ``InvalidValueError`` otherwise."""
        value = text.strip()
        if not _DIGITS.match(value):
            raise InvalidValueError("date/time is not in the form YYYY[MM[DD[hh[mm[ss]]]]]")
        return cls(_to_datetime(value), Precision(len(value)))

    @classmethod
    def of(cls, moment: datetime, precision: Precision = Precision.SECOND) -> Dtm:
        """``moment`` (aware, any zone) converted to UTC and truncated to ``precision``."""
        if moment.tzinfo is None:
            raise InvalidValueError("give an aware datetime; XDS date/times are UTC")
        digits = moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")[: int(precision)]
        return cls(_to_datetime(digits), precision)

    def to_hl7(self) -> str:
        return self.moment.strftime("%Y%m%d%H%M%S")[: int(self.precision)]

    def __str__(self) -> str:
        return self.to_hl7()


@dataclass(frozen=True)
class LooseDtm:
    """Result of :func:`read_dtm`: the value (``None`` when unusable) and what was odd about the text."""

    value: Dtm | None
    had_zone_or_fraction: bool = False
    impossible: bool = False


def read_dtm(text: str) -> LooseDtm:
    """Tolerant read: applies a ``+hhmm`` zone, drops fractions; an impossible date gives ``value=None``."""
    match = _LOOSE.match(text.strip())
    if match is None:
        return LooseDtm(None, impossible=True)
    digits = match["digits"]
    try:
        moment = _to_datetime(digits)
    except InvalidValueError:
        return LooseDtm(None, impossible=True)
    zone = match["zone"]
    odd = bool(match["fraction"] or zone)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
    return LooseDtm(Dtm.of(moment, Precision(len(digits))), had_zone_or_fraction=odd)


def _to_datetime(digits: str) -> datetime:
    padded = digits + "0101000000"[len(digits) - 4 :] if len(digits) < 14 else digits
    try:
        return datetime.strptime(padded, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidValueError("date/time is not a calendar date") from None
