"""``GET /Patient`` parameters as a :class:`PatientQuery`, the paging cursor, and the canonical form of ids.

As FHIR R4 search has it ("AND and OR"), a parameter repeated (``identifier=a&identifier=b``) means all of
its occurrences must hold, and commas within one occurrence (``identifier=a,b``) mean any of its values may;
values are unescaped as FHIR has it (``\\,`` a comma within a value, ``\\|`` a bar within a system or
value, ``\\\\`` a backslash: :mod:`fhir_facade.api.search_values`). Each parameter takes at most
:data:`MAX_VALUES` values (comma-separated and repeated ones together), so a query stays a small SQL
expression on every backend. ``birthdate`` is read in whole days and never
leaves the calendar: a value at its edge (``9999-12-31``, ``lt0001-01-01``, an offset that moves the
instant out of year 1 or 9999) narrows the search to the days that exist, which may be none. Dates are
ASCII digits only. A cursor is accepted only in exactly the form the server writes.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Final

from fhir_facade.api.errors import InvalidRequestError
from fhir_facade.api.paging import decode_cursor
from fhir_facade.api.patients.resource import store_system
from fhir_facade.api.patients.store import DayRange, PatientQuery, canonical_id, fold
from fhir_facade.api.routing import ParsedSearch
from fhir_facade.api.search_values import MAX_VALUES, alternative_count, alternatives, token_alternatives
from xca.iti55 import AdministrativeGender

__all__ = ["MAX_VALUES", "identifier_tokens", "patient_query", "search_position"]

_NAME_PARTS: Final = {"name": ("family", "given", "text"), "family": ("family",), "given": ("given",)}
_GENDERS: Final = {
    "male": AdministrativeGender.MALE.value,
    "female": AdministrativeGender.FEMALE.value,
    "other": AdministrativeGender.UNDIFFERENTIATED.value,
    "unknown": None,
}
_BIRTHDATE: Final = re.compile(
    r"(?P<prefix>[a-z]{2})?(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2})"
    r"(?:T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,9}))?)?"
    r"(?P<tz>Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?"
)
_PREFIXES: Final = frozenset({"eq", "ge", "gt", "le", "lt"})
_MICROS: Final = 1_000_000
_DAY: Final = 86_400 * _MICROS
_FIRST_DAY: Final = dt.date.min.toordinal()
_LAST_DAY: Final = dt.date.max.toordinal()


def identifier_tokens(value: str) -> tuple[tuple[str | None, str], ...]:
    """The alternatives of one ``identifier`` value: ``system|value`` (system as stored) or a bare value
    (any system), unescaped."""
    return tuple(
        (None if system is None else store_system(system), code)
        for system, code in token_alternatives("identifier", value)
    )


def _day_start(year: int, month: int = 1, day: int = 1) -> int:
    """The ordinal of a day, the day after 9999-12-31 included (as one past the last day)."""
    if year > dt.MAXYEAR:
        return _LAST_DAY + 1
    return dt.date(year, month, day).toordinal()


def _instant_range(match: re.Match[str]) -> tuple[int, int]:
    """``[start, end)`` of the value's period, in microseconds of UTC time counted from day ordinal 0."""
    year, month, day = int(match["year"]), match["month"], match["day"]
    if month is None:
        return _day_start(year) * _DAY, _day_start(year + 1) * _DAY
    if day is None:
        following = (year + 1, 1) if month == "12" else (year, int(month) + 1)
        return _day_start(year, int(month)) * _DAY, _day_start(*following) * _DAY
    start = _day_start(year, int(month), int(day)) * _DAY
    if match["hour"] is None:
        return start, start + _DAY
    clock = dt.time(int(match["hour"]), int(match["minute"]), int(match["second"] or 0))
    fraction = int((match["fraction"] or "")[:6].ljust(6, "0"))
    offset = 0
    if match["tz"] not in (None, "Z"):
        hours, minutes = int(match["tz"][1:3]), int(match["tz"][4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(match["tz"])
        offset = (hours * 60 + minutes) * 60 * _MICROS * (-1 if match["tz"][0] == "-" else 1)
    start += (clock.hour * 3600 + clock.minute * 60 + clock.second) * _MICROS + fraction - offset
    if match["fraction"] is not None:
        step = 1
    elif match["second"] is not None:
        step = _MICROS
    else:
        step = 60 * _MICROS
    return start, start + step


def _birthdate(value: str) -> tuple[int | None, int | None]:
    """The days ``[first, until)`` (ordinals) a ``birthdate`` value allows; ``None`` is an open end."""
    match = _BIRTHDATE.fullmatch(value)
    if match is None:
        raise InvalidRequestError(
            f"birthdate: {value!r} is not a FHIR date or dateTime", expression=("birthdate",)
        )
    prefix = match["prefix"] or "eq"
    if prefix not in _PREFIXES:
        raise InvalidRequestError(
            f"birthdate: the prefix {prefix!r} is not supported (use eq, ge, gt, le, lt)",
            expression=("birthdate",),
        )
    try:
        start, end = _instant_range(match)
    except ValueError:
        raise InvalidRequestError(
            f"birthdate: {value!r} is not a valid date", expression=("birthdate",)
        ) from None
    first, until = start // _DAY, -(-end // _DAY)  # the days holding the first and the last instant
    if prefix == "eq":
        return first, until
    if prefix == "ge":
        return first, None
    if prefix == "gt":
        return end // _DAY, None
    if prefix == "le":
        return None, until
    return None, -(-start // _DAY)


def _birth_range(value: str) -> DayRange | None:
    """The birth dates ``[from, until)`` one ``birthdate`` value allows, either end open (``None``) where it
    reaches past the calendar; ``None`` when no day of the calendar is in it."""
    first, until = _birthdate(value)
    if first is not None and first <= _FIRST_DAY:
        first = None
    if until is not None and until > _LAST_DAY:
        until = None
    if (
        (first is not None and first > _LAST_DAY)
        or (until is not None and until <= _FIRST_DAY)
        or (first is not None and until is not None and first >= until)
    ):
        return None
    return (
        dt.date.fromordinal(first) if first is not None else None,
        dt.date.fromordinal(until) if until is not None else None,
    )


def _check_counts(search: ParsedSearch) -> None:
    counts: dict[str, int] = {}
    for name, _modifier, value in search.params:
        counts[name] = counts.get(name, 0) + alternative_count(value)
        if counts[name] > MAX_VALUES:
            raise InvalidRequestError(
                f"search parameter {name!r} has more than {MAX_VALUES} values, the most this server accepts",
                expression=(name,),
                issue_code="too-long",
            )


def patient_query(search: ParsedSearch) -> PatientQuery:
    """The conditions of a Patient search; 400 for a value this server cannot search with.

    Each occurrence of a parameter is one condition the patient must meet (``identifier=a&identifier=b``:
    both identifiers); its comma-separated values are alternatives (``identifier=a,b``: either).
    """
    _check_counts(search)
    ids: list[uuid.UUID] | None = None
    identifiers: list[tuple[tuple[str | None, str], ...]] = []
    names: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    births: list[tuple[DayRange, ...]] = []
    genders: set[str | None] | None = None
    nothing = False
    for name, _modifier, value in search.params:
        if name == "identifier":
            identifiers.append(identifier_tokens(value))
            continue
        values = alternatives(name, value)
        if name == "_id":
            found = [key for key in map(canonical_id, values) if key is not None]
            ids = found if ids is None else [i for i in ids if i in found]
        elif name in _NAME_PARTS:
            prefixes = tuple(fold(item) for item in values)
            if not all(prefixes):
                raise InvalidRequestError(f"{name} needs letters or digits to search for", expression=(name,))
            names.append((_NAME_PARTS[name], prefixes))
        elif name == "birthdate":
            ranges = [span for span in [_birth_range(item) for item in values] if span is not None]
            if not ranges:  # no value of this occurrence names a day of the calendar
                nothing = True
            elif (None, None) not in ranges:  # a value open at both ends allows every patient
                births.append(tuple(ranges))
        elif name == "gender":
            if any(item not in _GENDERS for item in values):
                raise InvalidRequestError(
                    "gender must be male, female, other or unknown", expression=("gender",)
                )
            chosen = {_GENDERS[item] for item in values}
            genders = chosen if genders is None else genders & chosen
    return PatientQuery(
        ids=tuple(ids) if ids is not None else None,
        identifiers=tuple(identifiers),
        names=tuple(names),
        birth_dates=tuple(births),
        gender=tuple(genders) if genders is not None else None,
        matches_nothing=nothing,
    )


def search_position(search: ParsedSearch) -> tuple[dt.datetime, uuid.UUID] | None:
    """The ``_cursor`` position (registration time, id), ``None`` on the first page; 400 unless the
    cursor is exactly one this server wrote (an ISO UTC timestamp with ``+00:00`` and a canonical id)."""
    position = decode_cursor(search, ("c", "i"))
    if position is None:
        return None
    stamp, key = position["c"], position["i"]
    try:
        created = dt.datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        created = None
    patient = canonical_id(key) if isinstance(key, str) else None
    if (
        created is None
        or patient is None
        or created.tzinfo is None
        or created.utcoffset() != dt.timedelta(0)
        or created.isoformat() != stamp
    ):
        raise InvalidRequestError("the _cursor value is not valid", expression=("_cursor",))
    return created, patient
