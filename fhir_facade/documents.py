"""A retrieved document that is not converted (a PDF, an image, a C-CDA the converter refused) as FHIR: one
``DocumentReference`` describing it, so the patient's record lists every document a pull brought back.

The description holds what the bytes and the exchange say and nothing invented: the XDS uniqueId as
``masterIdentifier``, the media type, size, SHA-1 hash (base64, as FHIR's ``Attachment.hash`` wants) and title
of the attachment, whose ``url`` names the document as the C-CDA conversion does (``urn:oid:<uniqueId>``), the
IHE format code "mime type sufficient" (not for XML, whose format the bytes alone do not say), and the
community that holds it as ``custodian`` (a logical reference by its homeCommunityId). Its id is derived from
the community and the uniqueId, so describing the same document twice gives the same resource. The record's
patient is filled in when the record is consolidated (:func:`link_to_patient`): a lone document has no
Patient of its own to point at.

What the ITI-38 listing said is added when usable, and left out otherwise (partners send impossible dates
and stray characters; a description never fails for them): the ``typeCode`` as ``type`` (its coding scheme
OID as the code system's FHIR URI, ``urn:oid:<oid>`` when it has none; only the display name as ``text`` when
the code or scheme is unusable), and the ``creationTime`` as the attachment's ``creation`` (as IHE MHD maps
it) at its own precision when FHIR's dateTime has that precision (year, month, day or second; not hour or
minute: a time is never invented).
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterable
from typing import Any, Final

from fhir_facade.ccda.datatypes.codesystems import system_uri
from xca.errors import InvalidValueError
from xca.ids import is_oid, normalize_oid
from xca.iti38.dtm import Dtm, Precision

__all__ = ["describe_document", "link_to_patient"]

_FORMAT_SYSTEM: Final = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"
_MIME_SUFFICIENT: Final = "urn:ihe:iti:xds:2017:mimeTypeSufficient"
_URI: Final = "urn:ietf:rfc:3986"
_NAMESPACE: Final = uuid.UUID("5b0b3f0e-6a34-4c51-9f4c-0d7b1c2e8a41")
_CODE: Final = re.compile(r"^[^\s]+(\s[^\s]+)*$")
"""FHIR's ``code``: no leading, trailing or repeated whitespace."""


def _oid_identifier(value: str) -> dict[str, str]:
    return {"system": _URI, "value": f"urn:oid:{value}"} if is_oid(value) else {"value": value}


def _document_type(code: str | None, scheme: str | None, display: str | None) -> dict[str, Any] | None:
    """The listed typeCode as a CodeableConcept: a coding when the code and its scheme (an OID, stray
    characters at its ends and ``urn:oid:`` tolerated) are usable, else the display name alone, else None."""
    text = (display or "").strip() or None
    system = None
    if scheme:
        try:
            system = system_uri(normalize_oid(scheme).value)
        except InvalidValueError:
            system = None
    if code and _CODE.match(code) and system:
        coding = {"system": system, "code": code}
        if text:
            coding["display"] = text
        return {"coding": [coding]}
    return {"text": text} if text else None


def _creation_time(value: str | None) -> str | None:
    """The listed creationTime (XDS DTM, UTC) as a FHIR dateTime at its own precision; None when it is no
    calendar date or its precision is one dateTime lacks (hour or minute)."""
    if not value or not value.isascii():
        return None
    try:
        created = Dtm.parse(value)
    except InvalidValueError:
        return None
    moment, precision = created.moment, created.precision
    day = f"{moment.year:04d}-{moment:%m-%d}"
    stated = {
        Precision.YEAR: f"{moment.year:04d}",
        Precision.MONTH: day[:7],
        Precision.DAY: day,
        Precision.SECOND: f"{day}T{moment:%H:%M:%S}Z",
    }
    return stated.get(precision)


def describe_document(
    content: bytes,
    *,
    unique_id: str,
    media_type: str,
    home_community_id: str,
    community_name: str | None = None,
    title: str | None = None,
    type_code: str | None = None,
    type_code_system: str | None = None,
    type_code_display: str | None = None,
    creation_time: str | None = None,
) -> dict[str, Any]:
    """The ``DocumentReference`` of one stored document (``content``: its bytes as received; the type code
    and ``creation_time``, an XDS DTM, as its ITI-38 listing gave them)."""
    attachment: dict[str, Any] = {
        "contentType": media_type,
        "size": len(content),
        "hash": base64.b64encode(hashlib.sha1(content, usedforsecurity=False).digest()).decode("ascii"),
    }
    if is_oid(unique_id):
        attachment["url"] = f"urn:oid:{unique_id}"
    if title:
        attachment["title"] = title
    created = _creation_time(creation_time)
    if created is not None:
        attachment["creation"] = created  # as IHE MHD maps an XDS creationTime
    custodian: dict[str, Any] = {"identifier": _oid_identifier(home_community_id)}
    if community_name:
        custodian["display"] = community_name
    content_entry: dict[str, Any] = {"attachment": attachment}
    if not media_type.lower().endswith("xml"):
        # An XML document's format is its schema (a C-CDA template), which the bytes alone do not say.
        content_entry["format"] = {"system": _FORMAT_SYSTEM, "code": _MIME_SUFFICIENT}
    rid = str(uuid.uuid5(_NAMESPACE, f"{home_community_id}|{unique_id}"))
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": rid,
        # It is its own document's source (as a converted document's resources name their source
        # DocumentReference): consolidation then keeps it as a source, with no link to anything else.
        "meta": {"source": f"urn:uuid:{rid}"},
        "masterIdentifier": _oid_identifier(unique_id),
        "status": "current",
    }
    document_type = _document_type(type_code, type_code_system, type_code_display)
    if document_type is not None:
        resource["type"] = document_type
    resource["custodian"] = custodian
    if title:
        resource["description"] = title
    resource["content"] = [content_entry]
    return resource


def link_to_patient(resources: Iterable[dict[str, Any]]) -> None:
    """Point every ``DocumentReference`` without a subject at the record's Patient (in place), if the
    record has one."""
    listed = list(resources)
    patient = next((r for r in listed if r.get("resourceType") == "Patient"), None)
    if patient is None:
        return
    for resource in listed:
        if resource.get("resourceType") == "DocumentReference" and "subject" not in resource:
            resource["subject"] = {"reference": f"urn:uuid:{patient['id']}"}
