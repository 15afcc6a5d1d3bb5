"""DICOM / IHE ATNA audit messages (DICOM PS3.15 A.5, the RFC 3881 fields) as XML.

One ``AuditMessage`` per record: ``EventIdentification`` (EventID from DCM, EventTypeCode the IHE
transaction, outcome 0/4/8/12, purpose of use), ``ActiveParticipant`` for source (110153), destination
(110152) and the human requestor, ``AuditSourceIdentification``, and ``ParticipantObjectIdentification``
for the patient (type 1 role 1), the query (type 2 role 24, base64 ``ParticipantObjectQuery``) and each
document (type 2 role 3). An export file wraps the messages in one ``AuditMessages`` element.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import IO
from urllib.parse import urlsplit

from lxml import etree

from gateway.audit.codec import format_time
from gateway.audit.coding import classify
from gateway.audit.events import ApiAccessEvent, AuditEvent, PullJobEvent, RefusalEvent, TransactionEvent
from gateway.audit.model import (
    AuditSource,
    Code,
    Direction,
    DocumentRef,
    PatientId,
    RemotePeer,
    Requestor,
    Transaction,
)
from gateway.audit.search import StoredRecord

__all__ = ["atna_message", "to_atna_xml", "write_atna"]

_Element = etree._Element


def _code(parent: _Element, tag: str, code: Code, system_name: str | None = None) -> None:
    attributes = {"csd-code": code.code, "codeSystemName": system_name or code.system}
    if code.display:
        attributes["originalText"] = code.display
    etree.SubElement(parent, tag, attributes)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _access_point(address: str | None) -> dict[str, str]:
    if not address:
        return {}
    host = urlsplit(address).hostname if "://" in address else address
    if not host:
        return {}
    numeric = host.replace(".", "").isdigit() or ":" in host
    return {"NetworkAccessPointID": host, "NetworkAccessPointTypeCode": "2" if numeric else "1"}


def _participant(
    message: _Element, user_id: str, requestor: bool, role: Code | None, address: str | None, **extra: str
) -> None:
    attributes = {"UserID": user_id, **extra, "UserIsRequestor": "true" if requestor else "false"}
    element = etree.SubElement(message, "ActiveParticipant")
    for name, value in (attributes | _access_point(address)).items():
        element.set(name, value)
    if role is not None:
        _code(element, "RoleIDCode", role, "DCM" if role.code.startswith("110") else None)


_SOURCE = Code(code="110153", system="DCM", display="Source Role ID")
_DESTINATION = Code(code="110152", system="DCM", display="Destination Role ID")


def _gateway_and_remote(
    message: _Element, source: AuditSource, direction: Direction, local: str | None, remote: RemotePeer
) -> None:
    ours = local or source.source_id
    theirs = remote.endpoint or remote.network_address or remote.home_community_id or "unknown"
    extra = {"AlternativeUserID": remote.certificate_subject} if remote.certificate_subject else {}
    if direction is Direction.INITIATING:
        _participant(message, ours, True, _SOURCE, local)
        _participant(message, theirs, False, _DESTINATION, remote.endpoint, **extra)
    else:
        _participant(message, theirs, True, _SOURCE, remote.network_address or remote.endpoint, **extra)
        _participant(message, ours, False, _DESTINATION, local)


def _human(message: _Element, requestor: Requestor | None) -> None:
    if requestor is None:
        return
    extra = {"UserName": requestor.subject_id} if requestor.subject_id else {}
    if requestor.npi:
        extra["AlternativeUserID"] = requestor.npi
    _participant(message, requestor.user_id, True, requestor.role, None, **extra)


def _object(
    message: _Element, object_id: str, type_code: str, role: str, id_type: Code, system: str
) -> _Element:
    element = etree.SubElement(
        message,
        "ParticipantObjectIdentification",
        {
            "ParticipantObjectID": object_id,
            "ParticipantObjectTypeCode": type_code,
            "ParticipantObjectTypeCodeRole": role,
        },
    )
    _code(element, "ParticipantObjectIDTypeCode", id_type, system)
    return element


def _detail(element: _Element, kind: str, value: str | None) -> None:
    if value:
        etree.SubElement(element, "ParticipantObjectDetail", {"type": kind, "value": _b64(value)})


def _patients(message: _Element, patients: tuple[PatientId, ...]) -> None:
    for patient in patients:
        _object(
            message, patient.cx, "1", "1", Code(code="2", system="", display="Patient Number"), "RFC-3881"
        )


def _documents(message: _Element, documents: tuple[DocumentRef, ...]) -> None:
    for document in documents:
        element = _object(
            message,
            document.unique_id,
            "2",
            "3",
            Code(code="9", system="", display="Report Number"),
            "RFC-3881",
        )
        _detail(element, "Repository Unique Id", document.repository_id)
        _detail(element, "ihe:homeCommunityID", document.home_community_id)


def _query(message: _Element, event: TransactionEvent) -> None:
    cleaned = "&".join(f"{p.name}={p.value}" for p in event.query_parameters)
    code = Code(code=event.transaction.value, system="", display=event.transaction.display)
    element = _object(
        message, event.query_id or event.message_id or "query", "2", "24", code, "IHE Transactions"
    )
    etree.SubElement(element, "ParticipantObjectQuery").text = _b64(event.raw_query or cleaned)
    _detail(element, "QueryEncoding", "UTF-8")
    _detail(element, "ihe:homeCommunityID", event.remote.home_community_id)


def _body(message: _Element, event: AuditEvent, source: AuditSource) -> None:
    if isinstance(event, TransactionEvent | RefusalEvent):
        _gateway_and_remote(message, source, event.direction, event.local_endpoint, event.remote)
    elif isinstance(event, ApiAccessEvent):
        _participant(message, event.client_address or "unknown", True, _SOURCE, event.client_address)
        _participant(
            message, event.server_endpoint or source.source_id, False, _DESTINATION, event.server_endpoint
        )
    else:
        _participant(message, source.source_id, True, _SOURCE, None)
    _human(message, event.requestor)
    site = {"AuditEnterpriseSiteID": source.site, "AuditSourceID": source.source_id}
    audit_source = etree.SubElement(message, "AuditSourceIdentification", site)
    _code(
        audit_source,
        "AuditSourceTypeCode",
        Code(code="4", system="", display="Application Server Process"),
        "DCM",
    )
    _patients(message, event.patients)
    if isinstance(event, TransactionEvent) and event.transaction is not Transaction.ITI_39:
        _query(message, event)
    if isinstance(event, TransactionEvent | PullJobEvent):
        _documents(message, event.documents)


def atna_message(record: StoredRecord, source: AuditSource) -> _Element:
    """The ``AuditMessage`` element of one record."""
    event = record.event
    classification = classify(event)
    message = etree.Element("AuditMessage")
    identification = etree.SubElement(
        message,
        "EventIdentification",
        {
            "EventActionCode": classification.action.value,
            "EventDateTime": format_time(event.occurred_at or record.recorded_at),
            "EventOutcomeIndicator": str(int(event.outcome)),
        },
    )
    _code(identification, "EventID", classification.event_id, "DCM")
    for event_type in classification.event_types:
        system = "IHE Transactions" if event_type.system == "urn:ihe:event-type-code" else None
        if event_type.system.endswith("/DCM"):
            system = "DCM"
        _code(identification, "EventTypeCode", event_type, system)
    if event.error_codes:
        etree.SubElement(identification, "EventOutcomeDescription").text = " ".join(event.error_codes)
    if event.requestor is not None and event.requestor.purpose_of_use is not None:
        _code(identification, "PurposeOfUse", event.requestor.purpose_of_use)
    _body(message, event, source)
    return message


def to_atna_xml(record: StoredRecord, source: AuditSource) -> bytes:
    """One record as a standalone ATNA ``AuditMessage`` document (UTF-8, with XML declaration)."""
    return etree.tostring(atna_message(record, source), xml_declaration=True, encoding="UTF-8")


def write_atna(records: Iterable[StoredRecord], out: IO[bytes], source: AuditSource) -> int:
    """Write the records as one ``AuditMessages`` document; returns how many."""
    count = 0
    out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<AuditMessages>\n')
    for record in records:
        out.write(etree.tostring(atna_message(record, source), encoding="UTF-8") + b"\n")
        count += 1
    out.write(b"</AuditMessages>\n")
    return count
