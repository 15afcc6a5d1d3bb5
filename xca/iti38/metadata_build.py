"""DocumentEntry metadata as ebRIM: ``rim:ExtrinsicObject`` and ``rim:ObjectRef`` (IHE ITI TF-3 4.2.3.2,
Table 4.2.5-1; XCA's ``home`` attribute per TF-2b 3.38.4.1.2.1).

Strict: an entry lacking an attribute a Responding Gateway must send (:mod:`xca.iti38.optionality`), or an
on-demand entry carrying hash or size, is refused with ``InvalidValueError`` naming the attribute.

Classification and ExternalIdentifier ids are derived from the entryUUID (UUID v5), so the same entry always
builds the same bytes; no randomness, no clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Final

from lxml import etree

from xca import ns
from xca.errors import InvalidValueError
from xca.ids import format_cx, oid_urn, require_oid
from xca.iti38.constants import ClassificationScheme, ExternalIdentifierScheme, MetadataSlot
from xca.iti38.identifiers import require_entry_uuid
from xca.iti38.models import Author, Code, DocumentEntry, ObjectRef
from xca.iti38.optionality import missing_required, prohibited_present
from xca.iti38.slots import add_slot
from xca.ns import q

__all__ = ["build_extrinsic_object", "build_object_ref"]

_XML_LANG: Final = q(ns.XML, "lang")
_MAX_TEXT: Final = 1024  # ebRIM FreeFormText


def build_object_ref(ref: ObjectRef) -> etree._Element:
    element = etree.Element(q(ns.RIM, "ObjectRef"), id=require_entry_uuid(ref.id))
    if ref.home_community_id is not None:
        element.set("home", oid_urn(ref.home_community_id))
    return element


def build_extrinsic_object(doc: DocumentEntry) -> etree._Element:
    """One DocumentEntry with every attribute ITI TF-3 Table 4.3.1-3 requires (see :mod:`.optionality`)."""
    entry_uuid = require_entry_uuid(doc.entry_uuid)
    missing = missing_required(doc)
    if missing:
        raise InvalidValueError(
            f"a DocumentEntry in an XCA response lacks {', '.join(missing)}",
            detail={"attributes": list(missing)},
        )
    prohibited = prohibited_present(doc)
    if prohibited:
        raise InvalidValueError(
            f"an on-demand DocumentEntry carries no {' or '.join(prohibited)}",
            detail={"attributes": list(prohibited)},
        )
    assert doc.home_community_id is not None  # checked above
    assert doc.patient_id is not None
    element = etree.Element(
        q(ns.RIM, "ExtrinsicObject"),
        id=entry_uuid,
        home=oid_urn(doc.home_community_id),
        objectType=doc.entry_type.value,
        mimeType=doc.mime_type,
        isOpaque="false",
    )
    if doc.availability_status is not None:
        element.set("status", doc.availability_status.value)
    _add_entry_slots(element, doc)
    if doc.title is not None:
        _add_text(element, "Name", doc.title, doc.language_code)
    if doc.comments is not None:
        _add_text(element, "Description", doc.comments, doc.language_code)
    ids = _IdSource(entry_uuid)
    for author in doc.authors:
        element.append(_author(author, entry_uuid, ids.next()))
    coded: list[tuple[ClassificationScheme, Code | None]] = [
        (ClassificationScheme.CLASS_CODE, doc.class_code),
        *((ClassificationScheme.CONFIDENTIALITY_CODE, c) for c in doc.confidentiality_codes),
        *((ClassificationScheme.EVENT_CODE_LIST, c) for c in doc.event_codes),
        (ClassificationScheme.FORMAT_CODE, doc.format_code),
        (ClassificationScheme.HEALTHCARE_FACILITY_TYPE_CODE, doc.healthcare_facility_type_code),
        (ClassificationScheme.PRACTICE_SETTING_CODE, doc.practice_setting_code),
        (ClassificationScheme.TYPE_CODE, doc.type_code),
    ]
    for scheme, code in coded:
        if code is not None:
            element.append(_code(scheme, code, entry_uuid, ids.next()))
    element.append(
        _external_id(ExternalIdentifierScheme.PATIENT_ID, format_cx(doc.patient_id), entry_uuid, ids.next())
    )
    element.append(_external_id(ExternalIdentifierScheme.UNIQUE_ID, doc.unique_id, entry_uuid, ids.next()))
    return element


class _IdSource:
    """Deterministic ``urn:uuid:`` ids for the parts of one entry."""

    def __init__(self, entry_uuid: str) -> None:
        self._base = uuid.UUID(entry_uuid.removeprefix("urn:uuid:"))
        self._count = 0

    def next(self) -> str:
        self._count += 1
        return f"urn:uuid:{uuid.uuid5(self._base, f'part-{self._count}')}"


def _add_entry_slots(element: etree._Element, doc: DocumentEntry) -> None:
    if doc.size is not None and doc.size < 0:
        raise InvalidValueError("size cannot be negative")
    singles: list[tuple[MetadataSlot, str | None]] = [
        (MetadataSlot.CREATION_TIME, doc.creation_time.to_hl7() if doc.creation_time else None),
        (MetadataSlot.HASH, doc.hash),
        (MetadataSlot.LANGUAGE_CODE, doc.language_code),
        (
            MetadataSlot.REPOSITORY_UNIQUE_ID,
            require_oid(doc.repository_unique_id, what="repositoryUniqueId")
            if doc.repository_unique_id is not None
            else None,
        ),
        (
            MetadataSlot.SERVICE_START_TIME,
            doc.service_start_time.to_hl7() if doc.service_start_time else None,
        ),
        (MetadataSlot.SERVICE_STOP_TIME, doc.service_stop_time.to_hl7() if doc.service_stop_time else None),
        (MetadataSlot.SIZE, str(doc.size) if doc.size is not None else None),
        (MetadataSlot.SOURCE_PATIENT_ID, format_cx(doc.source_patient_id) if doc.source_patient_id else None),
    ]
    for name, value in singles:
        if value is not None:
            add_slot(element, name.value, [value])


def _add_text(parent: etree._Element, tag: str, value: str, lang: str | None) -> None:
    if len(value) > _MAX_TEXT:
        raise InvalidValueError(f"{tag} text longer than {_MAX_TEXT} characters")
    container = etree.SubElement(parent, q(ns.RIM, tag))
    localized = etree.SubElement(container, q(ns.RIM, "LocalizedString"), charset="UTF-8", value=value)
    if lang:
        localized.set(_XML_LANG, lang)


def _classification(scheme: ClassificationScheme, node: str, entry_uuid: str, part_id: str) -> etree._Element:
    return etree.Element(
        q(ns.RIM, "Classification"),
        id=part_id,
        classificationScheme=scheme.value,
        classifiedObject=entry_uuid,
        nodeRepresentation=node,
    )


def _author(author: Author, entry_uuid: str, part_id: str) -> etree._Element:
    # An author classification has an empty nodeRepresentation; everything is in its slots.
    element = _classification(ClassificationScheme.AUTHOR, "", entry_uuid, part_id)
    slots: list[tuple[MetadataSlot, Sequence[str]]] = [
        (MetadataSlot.AUTHOR_PERSON, (author.person,) if author.person else ()),
        (MetadataSlot.AUTHOR_INSTITUTION, author.institutions),
        (MetadataSlot.AUTHOR_ROLE, author.roles),
        (MetadataSlot.AUTHOR_SPECIALTY, author.specialties),
        (MetadataSlot.AUTHOR_TELECOMMUNICATION, author.telecommunications),
    ]
    for name, values in slots:
        if values:
            add_slot(element, name.value, values)
    return element


def _code(scheme: ClassificationScheme, code: Code, entry_uuid: str, part_id: str) -> etree._Element:
    if not code.code or not code.scheme:
        raise InvalidValueError("a metadata code needs a code and a coding scheme")
    element = _classification(scheme, code.code, entry_uuid, part_id)
    add_slot(element, MetadataSlot.CODING_SCHEME.value, [code.scheme])
    if code.display is not None:
        _add_text(element, "Name", code.display, None)
    return element


def _external_id(
    scheme: ExternalIdentifierScheme, value: str, entry_uuid: str, part_id: str
) -> etree._Element:
    element = etree.Element(
        q(ns.RIM, "ExternalIdentifier"),
        id=part_id,
        registryObject=entry_uuid,
        identificationScheme=scheme.value,
        value=value,
    )
    _add_text(element, "Name", scheme.display_name, None)
    return element
