"""The input side: one :class:`Document` per input Bundle, ordered by document date; FHIR times as sort keys.

A document is known by its source DocumentReference (the resource every other resource's ``meta.source``
points at, and the Provenance's ``source`` entity). Documents are ordered oldest first by the instant of
their date (the Composition's, else the DocumentReference's), then by the source id and a hash of the Bundle
content, so the order never depends on the order the inputs were given in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any, Final

import orjson

from fhir_facade.ccda.context import Json

__all__ = [
    "OPEN_END",
    "URN",
    "Document",
    "Interval",
    "instant_key",
    "interval",
    "period_interval",
    "read_documents",
    "ref_id",
]

URN: Final = "urn:uuid:"
OPEN_END: Final = "9999"
"""Upper bound of an open period (compares above every ``YYYY...`` key)."""


def ref_id(reference: Any) -> str | None:
    """The resource id a bundle Reference (``{"reference": "urn:uuid:<id>"}``) points at."""
    if isinstance(reference, dict):
        target = reference.get("reference")
        if isinstance(target, str) and target.startswith(URN):
            return target[len(URN) :]
    return None


@dataclass(frozen=True, slots=True)
class Document:
    """One input: its resources (the input's own dicts, never modified), source id and date."""

    order: int
    """Position oldest → newest (0 is the oldest document)."""
    position: int
    """Position in the inputs as given."""
    source_id: str
    """Id of the source DocumentReference; resources' ``meta.source`` is ``urn:uuid:<source_id>``."""
    date: str | None
    date_key: str
    title: str | None
    bundle_id: str | None
    resources: tuple[Json, ...]

    @property
    def source_reference(self) -> Json:
        return {"reference": URN + self.source_id}


def read_documents(bundles: list[Json]) -> list[Document]:
    """Documents for the input Bundles, sorted oldest first (stable keys only)."""
    drafts = []
    for index, found in enumerate(bundles):
        if not isinstance(found, dict) or found.get("resourceType") != "Bundle":
            raise ValueError(f"input {index} is not a Bundle")
        resources = tuple(
            e["resource"]
            for e in found.get("entry") or ()
            if isinstance(e, dict) and isinstance(e.get("resource"), dict) and e["resource"].get("id")
        )
        source = _source_id(resources) or str(found.get("id") or f"input-{index}")
        composition = next((r for r in resources if r["resourceType"] == "Composition"), None)
        described = next(
            (r for r in resources if r["resourceType"] == "DocumentReference" and r["id"] == source), None
        )
        date = (composition or {}).get("date") or (described or {}).get("date")
        title = (composition or {}).get("title") or (described or {}).get("description")
        digest = hashlib.sha256(orjson.dumps(found, option=orjson.OPT_SORT_KEYS)).hexdigest()
        drafts.append((instant_key(date), source, digest, index, date, title, found.get("id"), resources))
    drafts.sort(key=lambda d: (d[0], d[1], d[2], d[3]))
    return [
        Document(order, index, source, date, key, title, bundle_id, resources)
        for order, (key, source, _digest, index, date, title, bundle_id, resources) in enumerate(drafts)
    ]


def _source_id(resources: tuple[Json, ...]) -> str | None:
    for resource in resources:
        if resource["resourceType"] == "Provenance":
            for entity in resource.get("entity") or ():
                if entity.get("role") == "source" and ref_id(entity.get("what")):
                    return ref_id(entity.get("what"))
    for resource in resources:
        source = (resource.get("meta") or {}).get("source")
        if isinstance(source, str) and source.startswith(URN):
            return source[len(URN) :]
    return None


# --- time keys --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interval:
    """A time as comparable string keys ``[start, end]``; ``precise`` when known to the rule's precision."""

    start: str
    end: str
    precise: bool

    def overlaps(self, other: Interval) -> bool:
        return self.start <= other.end and other.start <= self.end


_PARTIAL_END: Final = {4: "-12-31", 7: "-31"}


def instant_key(value: Any) -> str:
    """A UTC sort key for a FHIR date/dateTime/instant (``""`` when absent or unreadable)."""
    span = interval(value, "instant")
    return span.start if span else ""


def interval(value: Any, precision: str) -> Interval | None:
    """Keys for one FHIR date/dateTime at ``precision`` ``day`` (the recorded local day) or ``instant``
    (UTC seconds); a coarser value (a year, a month, a date for an instant) spans its whole range and is
    not precise."""
    if not isinstance(value, str) or len(value) < 4 or not value[:4].isdigit():
        return None
    date, _, time = value.partition("T")
    if len(date) in _PARTIAL_END:
        if precision == "instant":
            return Interval(date, date + _PARTIAL_END[len(date)] + "T23:59:59Z", False)
        return Interval(date, date + _PARTIAL_END[len(date)], False)
    if precision == "day" or not time:
        if precision == "day":
            return Interval(date[:10], date[:10], True)
        return Interval(date[:10] + "T00:00:00Z", date[:10] + "T23:59:59Z", False)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return Interval(date[:10] + "T00:00:00Z", date[:10] + "T23:59:59Z", False)
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    key = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Interval(key, key, True)


def period_interval(period: Any, precision: str) -> Interval | None:
    """``[start, end]`` of a FHIR Period (open end → ongoing); precise when its start is."""
    if not isinstance(period, dict):
        return None
    start = interval(period.get("start"), precision)
    end = interval(period.get("end"), precision)
    if start is None:
        return Interval("", end.end, False) if end else None
    return Interval(start.start, end.end if end else OPEN_END, start.precise)
