"""Initiating side: ``rim:ExtrinsicObject`` / ``rim:ObjectRef`` read into DocumentEntry models, tolerantly
(IHE ITI TF-3 4.2.3.2, Table 4.2.5-1; XCA ``home`` per TF-2b 3.38.4.1.2.1).

Peers send ``home`` without ``urn:oid:``, repository ids with it, upper-case UUIDs and impossible dates:
each is repaired or dropped and recorded as a :class:`~xca.iti38.constants.Quirk` on the entry; an entry
lacking metadata a Responding Gateway must send (:mod:`xca.iti38.optionality`) is kept with
``Quirk.MISSING_ENTRY_METADATA``. Only an ExtrinsicObject without an id or without a uniqueId is refused
(``MissingElementError``): there is nothing to refer to or retrieve.
:func:`~xca.iti38.parse.parse_iti38_response` skips such an entry with a quirk and keeps the others.
"""

from __future__ import annotations

from dataclasses import replace

from lxml import etree

from xca import ns
from xca.errors import MissingElementError
from xca.iti38.constants import (
    AvailabilityStatus,
    ClassificationScheme,
    EntryType,
    ExternalIdentifierScheme,
    MetadataSlot,
    Quirk,
)
from xca.iti38.dtm import Dtm, read_dtm
from xca.iti38.identifiers import read_cx, read_entry_uuid, read_home, read_oid, strip_urn_oid
from xca.iti38.models import Author, Code, DocumentEntry, ObjectRef
from xca.iti38.optionality import missing_required
from xca.iti38.slots import read_slots
from xca.ns import q

__all__ = ["ENTRY_ID", "OBJECT_REF_ID", "UNIQUE_ID", "parse_extrinsic_object", "parse_object_ref"]

# ``detail["element"]`` of the MissingElementError for each refusal, so callers can tell them apart.
ENTRY_ID = "rim:ExtrinsicObject/@id"
UNIQUE_ID = "XDSDocumentEntry.uniqueId"
OBJECT_REF_ID = "rim:ObjectRef/@id"

_MAX_SIZE_DIGITS = 19

_SINGLE_CODES = frozenset(
    {
        ClassificationScheme.CLASS_CODE,
        ClassificationScheme.TYPE_CODE,
        ClassificationScheme.FORMAT_CODE,
        ClassificationScheme.HEALTHCARE_FACILITY_TYPE_CODE,
        ClassificationScheme.PRACTICE_SETTING_CODE,
    }
)


def parse_object_ref(element: etree._Element) -> tuple[ObjectRef, list[Quirk]]:
    raw_id = element.get("id")
    if not raw_id:
        raise MissingElementError("rim:ObjectRef has no id", detail={"element": OBJECT_REF_ID})
    ref_id, id_quirk = read_entry_uuid(raw_id)
    home, quirks = read_home(element.get("home"))
    return ObjectRef(ref_id, home), [*quirks, *([id_quirk] if id_quirk else [])]


def parse_extrinsic_object(element: etree._Element) -> DocumentEntry:
    raw_id = element.get("id")
    if not raw_id:
        raise MissingElementError("rim:ExtrinsicObject has no id", detail={"element": ENTRY_ID})
    reader = _EntryReader(element)
    entry_uuid, id_quirk = read_entry_uuid(raw_id)
    reader.note(id_quirk)
    home, home_quirks = read_home(element.get("home"))
    reader.quirks.extend(home_quirks)
    codes, multi, authors = reader.classifications()
    identifiers = reader.external_identifiers()
    unique_id = identifiers.get(ExternalIdentifierScheme.UNIQUE_ID, "")
    if not unique_id:
        raise MissingElementError("rim:ExtrinsicObject has no uniqueId", detail={"element": UNIQUE_ID})
    patient_id, pid_quirk = read_cx(identifiers.get(ExternalIdentifierScheme.PATIENT_ID))
    reader.note(pid_quirk)
    source_patient_id, spid_quirk = read_cx(reader.slot(MetadataSlot.SOURCE_PATIENT_ID))
    reader.note(spid_quirk)
    entry = DocumentEntry(
        entry_uuid=entry_uuid,
        unique_id=unique_id,
        patient_id=patient_id,
        home_community_id=home,
        repository_unique_id=reader.repository_id(),
        mime_type=element.get("mimeType") or "application/octet-stream",
        entry_type=reader.entry_type(),
        availability_status=reader.status(),
        size=reader.size(),
        hash=reader.slot(MetadataSlot.HASH),
        creation_time=reader.time(MetadataSlot.CREATION_TIME),
        service_start_time=reader.time(MetadataSlot.SERVICE_START_TIME),
        service_stop_time=reader.time(MetadataSlot.SERVICE_STOP_TIME),
        language_code=reader.slot(MetadataSlot.LANGUAGE_CODE),
        title=_localized(element, "Name"),
        comments=_localized(element, "Description"),
        source_patient_id=source_patient_id,
        class_code=codes.get(ClassificationScheme.CLASS_CODE),
        type_code=codes.get(ClassificationScheme.TYPE_CODE),
        format_code=codes.get(ClassificationScheme.FORMAT_CODE),
        healthcare_facility_type_code=codes.get(ClassificationScheme.HEALTHCARE_FACILITY_TYPE_CODE),
        practice_setting_code=codes.get(ClassificationScheme.PRACTICE_SETTING_CODE),
        confidentiality_codes=tuple(multi[ClassificationScheme.CONFIDENTIALITY_CODE]),
        event_codes=tuple(multi[ClassificationScheme.EVENT_CODE_LIST]),
        authors=tuple(authors),
    )
    if missing_required(entry) or not element.get("mimeType"):
        reader.note(Quirk.MISSING_ENTRY_METADATA)
    return replace(entry, quirks=tuple(dict.fromkeys(reader.quirks)))


class _EntryReader:
    def __init__(self, element: etree._Element) -> None:
        self._element = element
        self._slots = read_slots(element)
        self.quirks: list[Quirk] = []

    def note(self, quirk: Quirk | None) -> None:
        if quirk is not None:
            self.quirks.append(quirk)

    def slot(self, name: MetadataSlot) -> str | None:
        values = self._slots.get(name.value)
        return values[0].strip() or None if values else None

    def time(self, name: MetadataSlot) -> Dtm | None:
        text = self.slot(name)
        if text is None:
            return None
        loose = read_dtm(text)
        self.note(Quirk.IMPOSSIBLE_DATE if loose.impossible else None)
        self.note(Quirk.DATE_WITH_ZONE_OR_FRACTION if loose.had_zone_or_fraction else None)
        return loose.value

    def size(self) -> int | None:
        text = self.slot(MetadataSlot.SIZE)
        if text is None:
            return None
        # An XDS size is a 64-bit integer; longer digit strings are junk (and int() refuses > 4300 digits).
        if not text.isascii() or not text.isdigit() or len(text) > _MAX_SIZE_DIGITS:
            self.note(Quirk.SIZE_NOT_INTEGER)
            return None
        return int(text)

    def repository_id(self) -> str | None:
        text = self.slot(MetadataSlot.REPOSITORY_UNIQUE_ID)
        if text is None:
            return None
        _, had_prefix = strip_urn_oid(text)
        self.note(Quirk.REPOSITORY_ID_WITH_URN_OID if had_prefix else None)
        oid, quirks = read_oid(text)
        self.quirks.extend(quirks)
        self.note(Quirk.REPOSITORY_ID_NOT_AN_OID if oid is None else None)
        return oid if oid is not None else text

    def entry_type(self) -> EntryType:
        raw = (self._element.get("objectType") or "").strip().lower()
        for entry_type in EntryType:
            if raw == entry_type.value:
                return entry_type
        self.note(Quirk.UNKNOWN_OBJECT_TYPE)
        return EntryType.STABLE

    def status(self) -> AvailabilityStatus | None:
        raw = (self._element.get("status") or "").strip()
        local = raw.rsplit(":", 1)[-1]
        for status in AvailabilityStatus:
            if local == status.value.rsplit(":", 1)[-1]:
                return status
        self.note(Quirk.UNKNOWN_AVAILABILITY_STATUS if raw else None)
        return None

    def classifications(
        self,
    ) -> tuple[dict[ClassificationScheme, Code], dict[ClassificationScheme, list[Code]], list[Author]]:
        single: dict[ClassificationScheme, Code] = {}
        multi: dict[ClassificationScheme, list[Code]] = {
            ClassificationScheme.CONFIDENTIALITY_CODE: [],
            ClassificationScheme.EVENT_CODE_LIST: [],
        }
        authors: list[Author] = []
        for element in self._element.findall(q(ns.RIM, "Classification")):
            scheme_text = (element.get("classificationScheme") or "").strip().lower()
            scheme = next((s for s in ClassificationScheme if s.value == scheme_text), None)
            if scheme is ClassificationScheme.AUTHOR:
                authors.append(_author(element))
                continue
            if scheme not in multi and scheme not in _SINGLE_CODES:
                continue
            code = _code(element)
            if code is None:
                self.note(Quirk.CODE_INCOMPLETE)
            elif scheme in multi:
                multi[scheme].append(code)
            else:
                single.setdefault(scheme, code)
        return single, multi, authors

    def external_identifiers(self) -> dict[ExternalIdentifierScheme, str]:
        found: dict[ExternalIdentifierScheme, str] = {}
        for element in self._element.findall(q(ns.RIM, "ExternalIdentifier")):
            scheme_text = (element.get("identificationScheme") or "").strip().lower()
            for scheme in ExternalIdentifierScheme:
                if scheme.value == scheme_text:
                    found.setdefault(scheme, (element.get("value") or "").strip())
        return found


def _localized(element: etree._Element, tag: str) -> str | None:
    localized = element.find(f"{q(ns.RIM, tag)}/{q(ns.RIM, 'LocalizedString')}")
    return localized.get("value") if localized is not None else None


def _code(element: etree._Element) -> Code | None:
    """The classification's code, or ``None`` when its code or coding scheme is missing."""
    schemes = read_slots(element).get(MetadataSlot.CODING_SCHEME.value) or [""]
    code, scheme = (element.get("nodeRepresentation") or "").strip(), schemes[0].strip()
    if not code or not scheme:
        return None
    return Code(code=code, scheme=scheme, display=_localized(element, "Name"))


def _author(element: etree._Element) -> Author:
    slots = read_slots(element)

    def values(name: MetadataSlot) -> tuple[str, ...]:
        return tuple(v.strip() for v in slots.get(name.value, []) if v.strip())

    persons = values(MetadataSlot.AUTHOR_PERSON)
    return Author(
        person=persons[0] if persons else None,
        institutions=values(MetadataSlot.AUTHOR_INSTITUTION),
        roles=values(MetadataSlot.AUTHOR_ROLE),
        specialties=values(MetadataSlot.AUTHOR_SPECIALTY),
        telecommunications=values(MetadataSlot.AUTHOR_TELECOMMUNICATION),
    )
