"""Searchset paging: ``_count``, opaque cursors, Bundle assembly, and FHIR date-parameter ranges.

Pages are keyset pages: a cursor is the position after the last entry of a page (base64url JSON, opaque to
clients, checked on the way back in), so paging stays correct while records are added. ``next`` links carry
the query as processed plus ``_cursor``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from fhir_facade.api.errors import InvalidRequestError, Issue, operation_outcome
from fhir_facade.api.routing import ParsedSearch

__all__ = [
    "DEFAULT_COUNT",
    "MAX_COUNT",
    "DateRange",
    "decode_cursor",
    "encode_cursor",
    "page_size",
    "parse_date_param",
    "searchset",
]

DEFAULT_COUNT = 50
MAX_COUNT = 1000
# ASCII digits only: ``\d`` would also take other scripts' digits (Arabic-Indic, superscripts).
_DATE = re.compile(
    r"(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?",
    re.ASCII,
)
# The representable instants: a period reaching past either is open on that side.
_FIRST = dt.datetime.min.replace(tzinfo=dt.UTC)
_LAST = dt.datetime.max.replace(tzinfo=dt.UTC)


def page_size(search: ParsedSearch) -> int:
    """``_count`` (default 50); values above 1000 are served as 1000 pages, as FHIR allows."""
    raw = search.control.get("_count")
    if raw is None:
        return DEFAULT_COUNT
    if not (raw.isascii() and raw.isdigit()):
        raise InvalidRequestError("_count must be a non-negative integer", expression=("_count",))
    return min(int(raw), MAX_COUNT)


def encode_cursor(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode("ascii").rstrip("=")


def decode_cursor(search: ParsedSearch, keys: Sequence[str]) -> dict[str, Any] | None:
    """The position in ``_cursor`` (with exactly ``keys``), or ``None`` on the first page; 400 if forged."""
    raw = search.control.get("_cursor")
    if raw is None:
        return None
    try:
        position = orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        position = None
    if not isinstance(position, dict) or sorted(position) != sorted(keys):
        raise InvalidRequestError("the _cursor value is not a cursor of this search", expression=("_cursor",))
    return position


def _link(base: str, path: str, query: list[tuple[str, str]]) -> str:
    return f"{base}/{path}" + (f"?{urlencode(query)}" if query else "")


def searchset(
    *,
    base: str,
    path: str,
    search: ParsedSearch,
    resources: Iterable[dict[str, Any]],
    total: int | None,
    next_cursor: str | None,
    extra_issues: Sequence[Issue] = (),
) -> dict[str, Any]:
    """A ``searchset`` Bundle: entries with ``fullUrl``, ``total`` when known, ``self`` and ``next`` links."""
    query = search.kept_query()
    cursor = search.control.get("_cursor")
    self_query = [*query, ("_cursor", cursor)] if cursor else query
    links = [{"relation": "self", "url": _link(base, path, self_query)}]
    if next_cursor is not None:
        links.append({"relation": "next", "url": _link(base, path, [*query, ("_cursor", next_cursor)])})
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
            "search": {"mode": "match"},
        }
        for resource in resources
    ]
    issues = [*search.warnings, *extra_issues]
    if issues:
        entries.append({"resource": operation_outcome(issues), "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    if entries:
        bundle["entry"] = entries
    return bundle


@dataclass(frozen=True, slots=True)
class DateRange:
    """``start <= t < end``; either end open."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def narrow(self, other: DateRange) -> DateRange:
        starts = [value for value in (self.start, other.start) if value is not None]
        ends = [value for value in (self.end, other.end) if value is not None]
        return DateRange(max(starts) if starts else None, min(ends) if ends else None)


def _period(match: re.Match[str]) -> tuple[dt.datetime, dt.datetime | None]:
    """The period a date value stands for, clamped to the representable instants: a start or end before the
    first instant is the first instant (a time zone can push year 1 before it), a start after the last one is
    the last one, and an end after it (the last day of year 9999 has no following midnight) is ``None``, open.
    """
    year, month, day = int(match["year"]), match["month"], match["day"]

    def start_at(instant: Callable[[], dt.datetime]) -> dt.datetime:
        return _clamped(instant, year) or _LAST

    def end_at(instant: Callable[[], dt.datetime]) -> dt.datetime | None:
        return _clamped(instant, year)

    if month is None:
        return dt.datetime(year, 1, 1, tzinfo=dt.UTC), end_at(
            lambda: dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
        )
    if day is None:
        following = end_at(
            lambda: dt.datetime(year + (int(month) == 12), int(month) % 12 + 1, 1, tzinfo=dt.UTC)
        )
        return dt.datetime(year, int(month), 1, tzinfo=dt.UTC), following
    if match["time"] is None:
        start = dt.datetime(year, int(month), int(day), tzinfo=dt.UTC)
        return start, end_at(lambda: start + dt.timedelta(days=1))
    stamp = dt.datetime.fromisoformat(f"{year:04d}-{month}-{day}T{match['time']}{match['tz'] or 'Z'}")
    step = dt.timedelta(seconds=1) if match["time"].count(":") == 2 else dt.timedelta(minutes=1)
    if "." in match["time"]:
        step = dt.timedelta(microseconds=1)
    return start_at(lambda: stamp.astimezone(dt.UTC)), end_at(lambda: (stamp + step).astimezone(dt.UTC))


def _clamped(instant: Callable[[], dt.datetime], year: int) -> dt.datetime | None:
    """``instant()``; outside the representable instants, the first one (near year 1) or ``None`` (near
    year 9999: beyond the last)."""
    try:
        return instant()
    except (OverflowError, ValueError):
        return None if year >= 5000 else _FIRST


def parse_date_param(name: str, value: str) -> DateRange:
    """A FHIR date search value (``eq``/``ge``/``le``/``gt``/``lt`` prefixes, any precision) as a range.

    A value stands for its whole period (``2025-03`` is all of March, UTC when no zone is given): ``ge``
    starts at the period's start, ``gt`` after its end, ``le`` ends after it, ``lt`` before it.
    """
    match = _DATE.fullmatch(value)
    if match is None:
        raise InvalidRequestError(f"{name}: {value!r} is not a FHIR date or dateTime", expression=(name,))
    try:
        start, end = _period(match)
    except ValueError:
        raise InvalidRequestError(f"{name}: {value!r} is not a valid date", expression=(name,)) from None
    prefix = match["prefix"] or "eq"
    # An end beyond the last instant (``None``) leaves the range open there: after it, nothing.
    if prefix == "eq":
        return DateRange(start, end)
    if prefix == "ge":
        return DateRange(start=start)
    if prefix == "gt":
        return DateRange(start=end if end is not None else _LAST)
    if prefix == "le":
        return DateRange(end=end)
    if prefix == "lt":
        return DateRange(end=start)
    raise InvalidRequestError(
        f"{name}: the prefix {prefix!r} is not supported (use eq, ge, gt, le, lt)", expression=(name,)
    )
