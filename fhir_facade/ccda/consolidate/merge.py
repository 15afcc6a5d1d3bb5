"""One surviving resource from the occurrences of one fact; every disagreement becomes a :class:`Conflict`.

The occurrences come newest document first. The newest one is the base (its values win); the older ones
then, field by field (references already rewritten to survivors):

* a field the base lacks is filled in (the most complete record wins: a status, a severity, a note);
  for a choice field (``onset[x]``, ``effective[x]``...) only when the base has no other form of it;
* ``code``, ``vaccineCode``, ``medicationCodeableConcept``, ``relationship``: the codings are united (a
  SNOMED code from one document, the ICD-10 translation from another);
* :data:`KEYED_FIELDS` (a FamilyMemberHistory's ``condition``): entries sharing a coding are one entry,
  merged field by field the same way (codings united, notes united, a missing field filled in, a
  differing one kept from the newer document and reported as ``condition(<system>|<code>).<field>``);
  the others are added;
* list fields that accumulate facts (:data:`UNION_FIELDS`: identifiers, categories, notes, reasons,
  reactions, names, addresses, telecoms, performers, DiagnosticReport results...) are united without
  duplicates (compared without displays);
* :data:`EARLIEST_FIELDS` (onset, recorded date) keep the earliest value: the earliest document that knew of
  a condition dates it best;
* any other field whose values differ keeps the newest document's value and is reported as a conflict
  listing every document's value (never a silent drop);
* extensions are merged by URL the same way (newest wins, differences reported).

References inside the copies are rewritten to the survivors; a list of references that collapses onto one
survivor keeps it once. The inputs are never modified (the copies are new objects).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from fhir_facade.ccda.consolidate.documents import URN, Document, instant_key, ref_id
from fhir_facade.ccda.consolidate.rules import canonical, concept_tokens
from fhir_facade.ccda.context import Json

__all__ = [
    "EARLIEST_FIELDS",
    "KEYED_FIELDS",
    "SOURCE_DOCUMENT_URL",
    "UNION_FIELDS",
    "Conflict",
    "merge",
    "rewrite",
]

SOURCE_DOCUMENT_URL: Final = "https://hie-gateway.org/fhir/StructureDefinition/source-document"
"""Extension (``valueReference`` to a source DocumentReference), repeated once per source document."""

UNION_FIELDS: Final = frozenset(
    {
        "identifier",
        "category",
        "note",
        "reasonCode",
        "reasonReference",
        "reaction",
        "result",
        "hasMember",
        "derivedFrom",
        "performer",
        "participant",
        "name",
        "telecom",
        "address",
        "communication",
        "contact",
        "type",
        "author",
        "target",
        "diagnosis",
        "supportingInfo",
        "evidence",
        "link",
    }
)
CODE_FIELDS: Final = frozenset({"code", "vaccineCode", "medicationCodeableConcept", "relationship"})
KEYED_FIELDS: Final = frozenset({"condition"})
"""Lists of entries identified by their ``code`` (a relative's conditions), merged entry by entry."""
EARLIEST_FIELDS: Final = frozenset({"onsetDateTime", "recordedDate"})
_SKIPPED: Final = frozenset({"resourceType", "id", "meta", "text", "extension"})
_TYPE_SUFFIXES: Final = sorted(
    (
        "DateTime",
        "Date",
        "Time",
        "Instant",
        "Period",
        "Age",
        "Range",
        "String",
        "Boolean",
        "Integer",
        "Decimal",
        "Quantity",
        "CodeableConcept",
        "Coding",
        "Reference",
        "Ratio",
        "SampledData",
        "Timing",
        "Attachment",
    ),
    key=len,
    reverse=True,
)


@dataclass(frozen=True, slots=True)
class Conflict:
    """Documents disagree on ``field`` of one surviving resource; ``values`` are ``(source id, value)``."""

    resource_type: str
    survivor: str
    field: str
    resolution: str
    """``newest document`` or ``earliest value``."""
    chosen: str
    """Source DocumentReference id of the document whose value was kept."""
    values: tuple[tuple[str, Any], ...]

    def to_json(self) -> Json:
        return {
            "resourceType": self.resource_type,
            "id": self.survivor,
            "field": self.field,
            "resolution": self.resolution,
            "chosen": self.chosen,
            "values": [{"document": d, "value": v} for d, v in self.values],
        }


def rewrite(value: Any, survivor_of: Callable[[str], str]) -> Any:
    """A deep copy of ``value`` with every bundle Reference pointing at its survivor."""
    if isinstance(value, dict):
        copy = {k: rewrite(v, survivor_of) for k, v in value.items()}
        target = ref_id(value)
        if target is not None:
            copy["reference"] = URN + survivor_of(target)
        return copy
    if isinstance(value, list):
        items = [rewrite(v, survivor_of) for v in value]
        if items and all(isinstance(i, dict) and set(i) == {"reference"} for i in items):
            items = list({i["reference"]: i for i in items}.values())
        return items
    return value


def _choice(key: str) -> str | None:
    for suffix in _TYPE_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix) and key[-len(suffix) - 1].islower():
            return key[: -len(suffix)]
    return None


def _other_choice(held: Json, key: str) -> tuple[str | None, str | None]:
    """``key``'s choice prefix (``onset`` of ``onsetAge``) and the key ``held`` already has for the same
    choice under another type (``onsetPeriod``), each ``None`` when there is none."""
    prefix = _choice(key)
    if prefix is None:
        return None, None
    return prefix, next((k for k in held if k != key and _choice(k) == prefix), None)


def _key(value: Any) -> bytes:
    return orjson.dumps(canonical(value), option=orjson.OPT_SORT_KEYS)


def _unite(current: list[Any], extra: list[Any]) -> list[Any]:
    seen = {_key(v) for v in current}
    result = list(current)
    for value in extra:
        if _key(value) not in seen:
            seen.add(_key(value))
            result.append(value)
    return result


def _unite_codings(current: Json, extra: Json) -> Json:
    codings = current.get("coding") or []
    seen = {(c.get("system"), c.get("code")) for c in codings if isinstance(c, dict)}
    added = [
        c
        for c in extra.get("coding") or ()
        if isinstance(c, dict) and (c.get("system"), c.get("code")) not in seen
    ]
    if not added:
        return current
    result = dict(current)
    result["coding"] = [*codings, *added]
    return result


class _Merger:
    def __init__(self, resource_type: str, survivor: str, base: Json, base_source: str) -> None:
        self.resource_type = resource_type
        self.survivor = survivor
        self.base = base
        self.origin: dict[str, str] = dict.fromkeys(base, base_source)
        self.seen: dict[str, dict[bytes, tuple[str, Any]]] = {}
        self.earliest: set[str] = set()
        self.entry_origins: dict[str, list[str]] = {}
        """Per :data:`KEYED_FIELDS` field, the source of each entry of the merged list (same positions)."""

    def note(self, name: str, source: str, value: Any) -> None:
        self.seen.setdefault(name, {}).setdefault(_key(value), (source, value))

    def add(self, other: Json, source: str) -> None:
        base = self.base
        for key, value in other.items():
            if key in _SKIPPED:
                continue
            current = base.get(key)
            if current is None:
                prefix, held = _other_choice(base, key)
                if held is None or prefix is None:
                    base[key] = value
                    self.origin[key] = source
                else:
                    self.note(prefix + "[x]", self.origin[held], {held: base[held]})
                    self.note(prefix + "[x]", source, {key: value})
            elif key in EARLIEST_FIELDS:
                if _key(current) != _key(value):
                    self.earliest.add(key)
                    self.note(key, self.origin[key], current)
                    self.note(key, source, value)
                    if instant_key(value) < instant_key(current):
                        base[key], self.origin[key] = value, source
            elif key in CODE_FIELDS and isinstance(current, dict) and isinstance(value, dict):
                base[key] = _unite_codings(current, value)
            elif key in KEYED_FIELDS and isinstance(current, list) and isinstance(value, list):
                base[key] = self._keyed(key, current, value, source)
            elif key in UNION_FIELDS and isinstance(current, list) and isinstance(value, list):
                base[key] = _unite(current, value)
            elif _key(current) != _key(value):
                self.note(key, self.origin[key], current)
                self.note(key, source, value)
        self._extensions(other.get("extension") or [], source)

    def _keyed(self, name: str, current: list[Any], extra: list[Any], source: str) -> list[Any]:
        """``current`` with the entries of ``extra`` merged in: one sharing a coding with a held entry (or,
        uncoded, its text) merges into it; any other is added unless an identical one is held."""
        result = list(current)
        origins = self.entry_origins.setdefault(name, [self.origin.get(name, "")] * len(result))
        for entry in extra:
            if not isinstance(entry, dict):
                continue
            tokens = set(concept_tokens(entry.get("code")))
            index = next(
                (
                    i
                    for i, held in enumerate(result)
                    if isinstance(held, dict) and tokens & set(concept_tokens(held.get("code")))
                ),
                None,
            )
            if index is None:
                if _key(entry) not in {_key(h) for h in result}:
                    result.append(entry)
                    origins.append(source)
                continue
            shared = sorted(tokens & set(concept_tokens(result[index].get("code"))))[0]
            label = f"{name}({shared[0]}|{shared[1]})"
            result[index] = self._merge_entry(label, dict(result[index]), origins[index], entry, source)
        return result

    def _merge_entry(self, name: str, held: Json, origin: str, entry: Json, source: str) -> Json:
        for key, value in entry.items():
            current = held.get(key)
            if current is None:
                prefix, other = _other_choice(held, key)
                if other is None or prefix is None:
                    held[key] = value
                else:
                    self.note(f"{name}.{prefix}[x]", origin, {other: held[other]})
                    self.note(f"{name}.{prefix}[x]", source, {key: value})
                    self.origin.setdefault(f"{name}.{prefix}[x]", origin)
            elif key == "code" and isinstance(current, dict) and isinstance(value, dict):
                held[key] = _unite_codings(current, value)
            elif key in UNION_FIELDS and isinstance(current, list) and isinstance(value, list):
                held[key] = _unite(current, value)
            elif _key(current) != _key(value):
                self.note(f"{name}.{key}", origin, current)
                self.note(f"{name}.{key}", source, value)
                self.origin.setdefault(f"{name}.{key}", origin)
        return held

    def _extensions(self, extra: list[Json], source: str) -> None:
        current = self.base.setdefault("extension", [])
        by_url = {e.get("url"): e for e in current}
        for extension in extra:
            url = extension.get("url")
            if url == SOURCE_DOCUMENT_URL:
                continue
            held = by_url.get(url)
            if held is None:
                current.append(extension)
                by_url[url] = extension
                self.origin["extension|" + str(url)] = source
            elif _key(held) != _key(extension):
                name = f"extension({url})"
                self.note(name, self.origin.get("extension|" + str(url), source), held)
                self.note(name, source, extension)

    def conflicts(self) -> list[Conflict]:
        found = []
        for name, values in sorted(self.seen.items()):
            if len(values) < 2:
                continue
            if name in self.origin:  # a field, or an entry's field of a keyed list
                chosen = self.origin[name]
            elif name.endswith("[x]"):
                chosen = self.origin.get(next((k for k in self.base if _choice(k) == name[:-3]), ""), "")
            elif name.startswith("extension("):
                chosen = self.origin.get("extension|" + name[len("extension(") : -1], "")
            else:
                chosen = self.origin.get(name, "")
            found.append(
                Conflict(
                    self.resource_type,
                    self.survivor,
                    name,
                    "earliest value" if name in self.earliest else "newest document",
                    chosen,
                    tuple(values.values()),
                )
            )
        return found


def merge(
    resource_type: str,
    survivor: str,
    occurrences: list[tuple[Document, Json]],
    survivor_of: Callable[[str], str],
    *,
    sources: list[str] | None,
) -> tuple[Json, list[Conflict]]:
    """The surviving resource (id ``survivor``) and its conflicts; ``occurrences`` newest first.

    ``sources``: ids of the source DocumentReferences to list in :data:`SOURCE_DOCUMENT_URL` extensions
    (oldest first), or ``None`` for resources that carry none (the source documents, the Provenances).
    """
    first_doc, first = occurrences[0]
    base_source = survivor_of(first_doc.source_id)
    base = rewrite(first, survivor_of)
    merger = _Merger(resource_type, survivor, base, base_source)
    base["extension"] = [e for e in base.get("extension") or () if e.get("url") != SOURCE_DOCUMENT_URL]
    for doc, resource in occurrences[1:]:
        merger.add(rewrite(resource, survivor_of), survivor_of(doc.source_id))
    base["id"] = survivor
    meta = dict(base.get("meta") or {})
    if "source" in meta:
        meta["source"] = URN + base_source
    if sources is not None:
        meta["source"] = URN + base_source
        base["extension"].extend(
            {"url": SOURCE_DOCUMENT_URL, "valueReference": {"reference": URN + s}} for s in sources
        )
    if meta:
        base["meta"] = meta
    if not base["extension"]:
        del base["extension"]
    return _ordered(base), merger.conflicts()


def _ordered(resource: Json) -> Json:
    """``resourceType``, ``id``, ``meta`` first, then the fields in their first-seen order."""
    head = {k: resource[k] for k in ("resourceType", "id", "meta") if k in resource}
    return head | {k: v for k, v in resource.items() if k not in head}
