"""SOAP 1.2 envelopes with WS-Addressing 1.0, and SOAP Faults (W3C SOAP 1.2 Part 1 §5.4; IHE ITI TF-2 V.3).

Requests carry ``wsa:To``, ``wsa:Action`` (mustUnderstand), ``wsa:MessageID`` and ``wsa:ReplyTo``; responses
carry ``wsa:Action`` and ``wsa:RelatesTo``. Building is strict; :func:`parse_envelope` is tolerant of what
real peers send (MessageID without ``urn:uuid:``, headers in any order, extra headers).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from lxml import etree

from xca import ns
from xca.errors import MissingElementError, UnexpectedMessageError
from xca.ns import q
from xca.safexml import parse_xml

__all__ = [
    "ANONYMOUS",
    "CONTENT_TYPE",
    "Action",
    "Addressing",
    "Envelope",
    "FaultCode",
    "SoapFault",
    "build_envelope",
    "build_fault_envelope",
    "new_message_id",
    "parse_envelope",
    "to_bytes",
]

CONTENT_TYPE: Final = "application/soap+xml; charset=UTF-8"
ANONYMOUS: Final = "http://www.w3.org/2005/08/addressing/anonymous"


class Action(StrEnum):
    """WS-Addressing actions of the cross-community transactions."""

    ITI55_REQUEST = "urn:hl7-org:v3:PRPA_IN201305UV02:CrossGatewayPatientDiscovery"
    ITI55_RESPONSE = "urn:hl7-org:v3:PRPA_IN201306UV02:CrossGatewayPatientDiscovery"
    ITI38_REQUEST = "urn:ihe:iti:2007:CrossGatewayQuery"
    ITI38_RESPONSE = "urn:ihe:iti:2007:CrossGatewayQueryResponse"
    ITI39_REQUEST = "urn:ihe:iti:2007:CrossGatewayRetrieve"
    ITI39_RESPONSE = "urn:ihe:iti:2007:CrossGatewayRetrieveResponse"
    FAULT = "http://www.w3.org/2005/08/addressing/soap/fault"


class FaultCode(StrEnum):
    """SOAP 1.2 fault codes (the local names in the envelope namespace)."""

    VERSION_MISMATCH = "VersionMismatch"
    MUST_UNDERSTAND = "MustUnderstand"
    DATA_ENCODING_UNKNOWN = "DataEncodingUnknown"
    SENDER = "Sender"
    RECEIVER = "Receiver"


@dataclass(frozen=True)
class Addressing:
    """WS-Addressing headers of one message. ``action`` is kept as sent (peers use unknown actions)."""

    action: str
    message_id: str | None = None
    to: str | None = None
    reply_to: str | None = None
    relates_to: str | None = None

    @classmethod
    def request(cls, action: Action, *, to: str, message_id: str | None = None) -> Addressing:
        return cls(action=action, message_id=message_id or new_message_id(), to=to, reply_to=ANONYMOUS)

    @classmethod
    def response(cls, action: Action, *, relates_to: str | None, message_id: str | None = None) -> Addressing:
        return cls(action=action, message_id=message_id or new_message_id(), relates_to=relates_to)


@dataclass(frozen=True)
class SoapFault:
    """A SOAP 1.2 Fault. ``subcodes`` are Clark-notation QNames, outermost first."""

    code: FaultCode
    reason: str
    subcodes: tuple[str, ...] = ()
    detail: str | None = None
    lang: str = "en"
    role: str | None = None


@dataclass(frozen=True)
class Envelope:
    """A parsed SOAP 1.2 envelope: the addressing headers, the first body child, or a fault."""

    root: etree._Element = field(repr=False, compare=False)
    addressing: Addressing
    body: etree._Element | None = field(repr=False, compare=False)
    header: etree._Element | None = field(repr=False, compare=False)
    fault: SoapFault | None = None


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def build_envelope(
    body: etree._Element, addressing: Addressing, *, headers: Sequence[etree._Element] = ()
) -> etree._Element:
    """Wrap ``body`` in a SOAP 1.2 envelope with WS-Addressing headers, then any extra ``headers``."""
    envelope = etree.Element(q(ns.SOAP12, "Envelope"), nsmap={"soap": ns.SOAP12, "wsa": ns.WSA})
    header = etree.SubElement(envelope, q(ns.SOAP12, "Header"))
    action = etree.SubElement(header, q(ns.WSA, "Action"))
    action.set(q(ns.SOAP12, "mustUnderstand"), "true")
    action.text = addressing.action
    if addressing.message_id:
        etree.SubElement(header, q(ns.WSA, "MessageID")).text = addressing.message_id
    if addressing.reply_to:
        reply_to = etree.SubElement(header, q(ns.WSA, "ReplyTo"))
        etree.SubElement(reply_to, q(ns.WSA, "Address")).text = addressing.reply_to
    if addressing.relates_to:
        etree.SubElement(header, q(ns.WSA, "RelatesTo")).text = addressing.relates_to
    if addressing.to:
        to = etree.SubElement(header, q(ns.WSA, "To"))
        to.set(q(ns.SOAP12, "mustUnderstand"), "true")
        to.text = addressing.to
    header.extend(headers)
    etree.SubElement(envelope, q(ns.SOAP12, "Body")).append(body)
    return envelope


def build_fault_envelope(fault: SoapFault, *, relates_to: str | None) -> etree._Element:
    """A complete SOAP 1.2 envelope carrying ``fault``, addressed as a reply to ``relates_to``."""
    fault_el = etree.Element(q(ns.SOAP12, "Fault"))
    code_el = etree.SubElement(fault_el, q(ns.SOAP12, "Code"))
    etree.SubElement(code_el, q(ns.SOAP12, "Value")).text = f"soap:{fault.code.value}"
    reason = etree.SubElement(fault_el, q(ns.SOAP12, "Reason"))
    text = etree.SubElement(reason, q(ns.SOAP12, "Text"))
    text.set(q(ns.XML, "lang"), fault.lang)
    text.text = fault.reason
    if fault.role:
        etree.SubElement(fault_el, q(ns.SOAP12, "Role")).text = fault.role
    if fault.detail is not None:
        # SOAP 1.2 Detail holds elements only; the text goes in one element of the project's namespace.
        detail = etree.SubElement(fault_el, q(ns.SOAP12, "Detail"))
        etree.SubElement(detail, q(ns.HIEGATE, "Error"), nsmap={"hg": ns.HIEGATE}).text = fault.detail
    envelope = build_envelope(fault_el, Addressing.response(Action.FAULT, relates_to=relates_to))
    # Subcodes are QNames in text: written once the Fault sits in the envelope, with the prefix in scope
    # there (the envelope already declares wsa), declaring a new one only for namespaces it lacks.
    parent = code_el
    for index, subcode in enumerate(fault.subcodes):
        sub_el = etree.SubElement(parent, q(ns.SOAP12, "Subcode"))
        parent = sub_el
        qname = etree.QName(subcode)
        if not qname.namespace:
            etree.SubElement(sub_el, q(ns.SOAP12, "Value")).text = qname.localname
            continue
        prefix = next((p for p, uri in sub_el.nsmap.items() if p and uri == qname.namespace), None)
        nsmap = {} if prefix else {f"sc{index}": qname.namespace}
        value = etree.SubElement(sub_el, q(ns.SOAP12, "Value"), nsmap=nsmap)
        value.text = f"{prefix or f'sc{index}'}:{qname.localname}"
    return envelope


def to_bytes(element: etree._Element) -> bytes:
    """Serialize a message as UTF-8 with an XML declaration, as peers expect on the wire."""
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")


def parse_envelope(data: bytes | etree._Element) -> Envelope:
    """Parse a SOAP 1.2 envelope (bytes go through the hardened parser first)."""
    root = parse_xml(data) if isinstance(data, bytes | bytearray | memoryview) else data
    if root.tag != q(ns.SOAP12, "Envelope"):
        if etree.QName(root).localname == "Envelope":
            raise UnexpectedMessageError(
                "not a SOAP 1.2 envelope (wrong envelope namespace)",
                detail={"namespace": etree.QName(root).namespace},
            )
        raise UnexpectedMessageError("not a SOAP envelope", detail={"root": etree.QName(root).localname})
    header = root.find(q(ns.SOAP12, "Header"))
    body_el = root.find(q(ns.SOAP12, "Body"))
    if body_el is None:
        raise MissingElementError("SOAP envelope has no Body", detail={"element": "soap:Body"})
    first = next((child for child in body_el if isinstance(child.tag, str)), None)
    fault = _parse_fault(first) if first is not None and first.tag == q(ns.SOAP12, "Fault") else None
    return Envelope(
        root=root,
        addressing=_parse_addressing(header),
        body=None if fault else first,
        header=header,
        fault=fault,
    )


def _text(parent: etree._Element | None, tag: str) -> str | None:
    if parent is None:
        return None
    element = parent.find(tag)
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _parse_addressing(header: etree._Element | None) -> Addressing:
    reply_to = header.find(q(ns.WSA, "ReplyTo")) if header is not None else None
    return Addressing(
        action=_text(header, q(ns.WSA, "Action")) or "",
        message_id=_text(header, q(ns.WSA, "MessageID")),
        to=_text(header, q(ns.WSA, "To")),
        reply_to=_text(reply_to, q(ns.WSA, "Address")),
        relates_to=_text(header, q(ns.WSA, "RelatesTo")),
    )


def _resolve_qname(element: etree._Element, text: str) -> str:
    prefix, _, local = text.strip().rpartition(":")
    namespace = element.nsmap.get(prefix or None)
    return q(namespace, local) if namespace else local


def _parse_fault(fault_el: etree._Element) -> SoapFault:
    value_el = fault_el.find(f"{q(ns.SOAP12, 'Code')}/{q(ns.SOAP12, 'Value')}")
    local = (
        etree.QName(_resolve_qname(value_el, value_el.text or "")).localname if value_el is not None else ""
    )
    try:
        code = FaultCode(local)
    except ValueError:
        code = FaultCode.RECEIVER
    subcodes: list[str] = []
    parent = fault_el.find(q(ns.SOAP12, "Code"))
    while parent is not None:
        parent = parent.find(q(ns.SOAP12, "Subcode"))
        sub_value = parent.find(q(ns.SOAP12, "Value")) if parent is not None else None
        if sub_value is not None and sub_value.text:
            subcodes.append(_resolve_qname(sub_value, sub_value.text))
    reason_el = fault_el.find(f"{q(ns.SOAP12, 'Reason')}/{q(ns.SOAP12, 'Text')}")
    detail_el = fault_el.find(q(ns.SOAP12, "Detail"))
    detail: str | None = None
    if detail_el is not None:
        detail = "".join(detail_el.itertext()).strip() or None
    return SoapFault(
        code=code,
        reason=(reason_el.text or "").strip() if reason_el is not None else "",
        subcodes=tuple(subcodes),
        detail=detail,
        lang=reason_el.get("{http://www.w3.org/XML/1998/namespace}lang", "en")
        if reason_el is not None
        else "en",
        role=_text(fault_el, q(ns.SOAP12, "Role")),
    )
