"""The state of one document's conversion: ids, produced resources, issues and counters.

Deterministic ids
    Every resource id is a UUIDv5 (:data:`ID_NAMESPACE`) over the resource type and an identity key:

    * ``ii|<root>|<extension>`` when the source element carries a usable ``id``: independent of the
      document, so the same fact (allergy, practitioner, patient) sent in two documents gets the same id,
      which is what consolidation matches on;
    * ``doc|<document key>|<xpath>`` otherwise, or when the ``id`` was already used in this document for
      another element of the same type (senders reuse ids): stable from run to run for the same bytes.

    The document key is the ClinicalDocument ``id`` (root^extension), or the SHA-256 of the bytes without one.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from lxml import etree

from fhir_facade.ccda.cda import attr, children, path_of

__all__ = [
    "ID_NAMESPACE",
    "ConversionContext",
    "Issue",
    "Json",
    "SectionStats",
    "identity_key",
    "make_id",
    "reference",
]

Json = dict[str, Any]
"""A FHIR JSON object as plain dicts and lists: resources and datatypes are built as these, never models."""

ID_NAMESPACE: Final = uuid.UUID("4f1c8a52-6a7e-5b0e-9c43-2d1f3a6b7c80")
"""UUIDv5 namespace of hie-gateway's C-CDA conversion; changing it changes every id ever produced."""

Severity = Literal["fatal", "error", "warning", "information"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem met while converting, located by the XPath of the source element."""

    severity: Severity
    code: str
    """FHIR issue type: ``invalid``, ``value``, ``incomplete``, ``not-supported``, ``exception``..."""
    message: str
    location: str | None = None

    def to_fhir(self) -> Json:
        issue: Json = {"severity": self.severity, "code": self.code, "diagnostics": self.message}
        if self.location:
            issue["expression"] = [self.location]
        return issue


@dataclass(slots=True)
class SectionStats:
    """Structured entries of one section kind: seen, turned into at least one resource, failed."""

    seen: int = 0
    converted: int = 0
    failed: int = 0


@dataclass(eq=False)
class ConversionContext:
    """Everything the converters share for one document; created by ``convert_ccda``."""

    root: etree._Element
    document_key: str
    issues: list[Issue] = field(default_factory=list)
    resources: dict[str, Json] = field(default_factory=dict)
    sections: dict[str, SectionStats] = field(default_factory=dict)
    patient: Json | None = None
    """Reference to the Patient, set by the header before any section converts."""
    source: Json | None = None
    """Reference to the DocumentReference describing the source document."""
    author: Json | None = None
    """Reference to the document's first author, the default recorder/asserter for entries."""
    encounter: Json | None = None
    narrative_ids: dict[str, etree._Element] | None = None
    """``ID`` → narrative element, built on the first ``originalText/reference`` (see ``narrative.py``)."""
    made_from: dict[str, list[str]] = field(default_factory=dict)
    """Identity key (``ii|root|extension``) → ids of the resources made from elements carrying it, so that an
    entry referring to another one by its ``id`` (an Entry Reference) can link to what it became."""
    _used_ii: set[tuple[str, str]] = field(default_factory=set)
    _tallies: Counter[str] = field(default_factory=Counter)
    _first_location: dict[str, str] = field(default_factory=dict)
    _tally_messages: dict[str, str] = field(default_factory=dict)

    # --- ids ------------------------------------------------------------------------------------------------

    def make_id(self, resource_type: str, key: str) -> str:
        return make_id(resource_type, key)

    def id_for(self, resource_type: str, element: etree._Element, *, shared: bool = False) -> str:
        """The id of the resource made from ``element``: from its ``id`` children when usable, else its XPath.

        ``shared`` marks resources several elements legitimately describe (a practitioner authoring many
        entries, the patient): those keep the id-derived key even when it repeats in the document.
        """
        key = identity_key(element)
        if key is not None:
            if shared:
                return self.make_id(resource_type, key)
            if (resource_type, key) not in self._used_ii:
                self._used_ii.add((resource_type, key))
                rid = self.make_id(resource_type, key)
                self.made_from.setdefault(key, []).append(rid)
                return rid
            self.tally("reused-id", element, "entries reused an id already used in this document")
        return self.make_id(resource_type, f"doc|{self.document_key}|{path_of(element)}")

    # --- resources ------------------------------------------------------------------------------------------

    def add(self, resource: Json) -> Json:
        """Keep ``resource`` for the bundle (first one wins for a repeated id); return a Reference to it."""
        rid = resource["id"]
        if rid not in self.resources:
            if self.source is not None and self.source["reference"] != "urn:uuid:" + rid:
                resource.setdefault("meta", {})["source"] = self.source["reference"]
            self.resources[rid] = resource
        return reference(rid)

    def has(self, rid: str) -> bool:
        return rid in self.resources

    def type_of(self, ref: Json | None) -> str | None:
        """The resourceType a bundle Reference points at (``None`` when it is not one of ours)."""
        if not ref:
            return None
        target = self.resources.get(str(ref.get("reference", "")).removeprefix("urn:uuid:"))
        return target["resourceType"] if target else None

    # --- issues ---------------------------------------------------------------------------------------------

    def report(
        self,
        severity: Severity,
        code: str,
        message: str,
        element: etree._Element | None = None,
    ) -> None:
        self.issues.append(Issue(severity, code, message, path_of(element) if element is not None else None))

    def tally(self, kind: str, element: etree._Element | None, message: str) -> None:
        """Count a frequent, minor event; :meth:`finish` reports each kind once with its count."""
        if kind not in self._first_location and element is not None:
            self._first_location[kind] = path_of(element)
        self._tallies[kind] += 1
        self._tally_messages[kind] = message

    def finish(self) -> None:
        """Turn tallies into one information issue per kind (first location given)."""
        for kind, count in sorted(self._tallies.items()):
            message = f"{count} {self._tally_messages[kind]}"
            self.issues.append(Issue("information", "informational", message, self._first_location.get(kind)))
        self._tallies.clear()

    def section_stats(self, name: str) -> SectionStats:
        stats = self.sections.get(name)
        if stats is None:
            stats = self.sections[name] = SectionStats()
        return stats


def reference(rid: str) -> Json:
    """A Reference to a resource of this bundle (its fullUrl is ``urn:uuid:<id>``)."""
    return {"reference": "urn:uuid:" + rid}


def identity_key(element: etree._Element) -> str | None:
    """``ii|root|extension`` of the first usable ``id`` child (no nullFlavor, a root), else ``None``."""
    for ident in children(element, "id"):
        root = attr(ident, "root")
        if root and ident.get("nullFlavor") is None:
            return f"ii|{root}|{attr(ident, 'extension') or ''}"
    return None


_NAMESPACE_BYTES: Final = ID_NAMESPACE.bytes
# UUID variant bits (10xx) applied to the hex digit that holds them: 0-3 → 8-b, 4-7 → 8-b, ...
_VARIANT: Final[dict[str, str]] = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def make_id(resource_type: str, key: str) -> str:
    """``uuid5(ID_NAMESPACE, f"{resource_type}|{key}")``, computed without the uuid module's overhead.

    The version and variant are set on the hex digits directly: no bytearray to copy and patch.
    """
    h = hashlib.sha1(_NAMESPACE_BYTES + f"{resource_type}|{key}".encode(), usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"
