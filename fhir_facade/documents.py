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
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterable
from typing import Any, Final

from xca.ids import is_oid

__all__ = ["describe_document", "link_to_patient"]

_FORMAT_SYSTEM: Final = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"
_MIME_SUFFICIENT: Final = "urn:ihe:iti:xds:2017:mimeTypeSufficient"
_URI: Final = "urn:ietf:rfc:3986"
_NAMESPACE: Final = uuid.UUID("5b0b3f0e-6a34-4c51-9f4c-0d7b1c2e8a41")


def _oid_identifier(value: str) -> dict[str, str]:
    return {"system": _URI, "value": f"urn:oid:{value}"} if is_oid(value) else {"value": value}


def describe_document(
    content: bytes,
    *,
    unique_id: str,
    media_type: str,
    home_community_id: str,
    community_name: str | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """The ``DocumentReference`` of one stored document (``content``: its bytes as received)."""
    attachment: dict[str, Any] = {
        "contentType": media_type,
        "size": len(content),
        "hash": base64.b64encode(hashlib.sha1(content, usedforsecurity=False).digest()).decode("ascii"),
    }
    if is_oid(unique_id):
        attachment["url"] = f"urn:oid:{unique_id}"
    if title:
        attachment["title"] = title
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
        "custodian": custodian,
        "content": [content_entry],
    }
    if title:
        resource["description"] = title
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
