"""SOAP 1.2 envelopes, WS-Addressing and Faults: strict when built, tolerant when read."""

from __future__ import annotations

import pytest
from lxml import etree

from tests.xca.schemas import assert_valid
from xca import ns
from xca.errors import MissingElementError, UnexpectedMessageError, XmlExternalEntityError
from xca.ns import q
from xca.soap import (
    ANONYMOUS,
    Action,
    Addressing,
    FaultCode,
    SoapFault,
    build_envelope,
    build_fault_envelope,
    new_message_id,
    parse_envelope,
    to_bytes,
)


def _body() -> etree._Element:
    return etree.Element(q(ns.HL7V3, "PRPA_IN201305UV02"))


def test_request_envelope_carries_ws_addressing_and_round_trips() -> None:
    addressing = Addressing.request(Action.ITI55_REQUEST, to="https://responder.example/xcpd")
    envelope = build_envelope(_body(), addressing)
    assert_valid_envelope(envelope)
    action = envelope.find(f"{q(ns.SOAP12, 'Header')}/{q(ns.WSA, 'Action')}")
    assert action is not None
    assert action.get(q(ns.SOAP12, "mustUnderstand")) == "true"
    parsed = parse_envelope(to_bytes(envelope))
    assert parsed.addressing == addressing
    assert parsed.addressing.reply_to == ANONYMOUS
    assert parsed.addressing.message_id is not None
    assert parsed.addressing.message_id.startswith("urn:uuid:")
    assert parsed.body is not None
    assert parsed.body.tag == q(ns.HL7V3, "PRPA_IN201305UV02")
    assert parsed.fault is None


def assert_valid_envelope(envelope: etree._Element) -> None:
    from tests.xca.schemas import _assert, _schema

    _assert(_schema("soap12"), envelope)


def test_response_envelope_relates_to_request() -> None:
    request_id = new_message_id()
    envelope = build_envelope(_body(), Addressing.response(Action.ITI55_RESPONSE, relates_to=request_id))
    parsed = parse_envelope(to_bytes(envelope))
    assert parsed.addressing.relates_to == request_id
    assert parsed.addressing.action == Action.ITI55_RESPONSE


def test_extra_headers_follow_addressing() -> None:
    security = etree.Element(q(ns.WSSE, "Security"))
    envelope = build_envelope(
        _body(), Addressing.request(Action.ITI38_REQUEST, to="https://x"), headers=[security]
    )
    header = envelope.find(q(ns.SOAP12, "Header"))
    assert header is not None
    assert header[-1].tag == q(ns.WSSE, "Security")


def test_fault_round_trip_with_subcodes_and_detail() -> None:
    fault = SoapFault(
        code=FaultCode.SENDER,
        reason="The security token could not be authenticated or authorized",
        subcodes=(q(ns.WSSE, "FailedAuthentication"),),
        detail="HG-3001",
    )
    envelope = build_fault_envelope(fault, relates_to="urn:uuid:1234")
    assert_valid_envelope(envelope)
    parsed = parse_envelope(to_bytes(envelope))
    assert parsed.fault == fault
    assert parsed.body is None
    assert parsed.addressing.action == Action.FAULT
    assert parsed.addressing.relates_to == "urn:uuid:1234"


def test_tolerant_read_of_message_id_without_urn_uuid_and_unknown_fault_code() -> None:
    data = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        b'xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header>'
        b"<a:RelatesTo> 0f1d2c3b </a:RelatesTo><a:Action>urn:x</a:Action></s:Header>"
        b"<s:Body><s:Fault><s:Code><s:Value>s:Weird</s:Value></s:Code>"
        b'<s:Reason><s:Text xml:lang="de">kaputt</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>'
    )
    parsed = parse_envelope(data)
    assert parsed.addressing.relates_to == "0f1d2c3b"
    assert parsed.fault is not None
    assert parsed.fault.code is FaultCode.RECEIVER
    assert parsed.fault.reason == "kaputt"
    assert parsed.fault.lang == "de"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            b'<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body/></Envelope>',
            UnexpectedMessageError,
        ),
        (b"<html><body>502 Bad Gateway</body></html>", UnexpectedMessageError),
        (
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/></s:Envelope>',
            MissingElementError,
        ),
        (
            b'<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&x;</s:Body></s:Envelope>',
            XmlExternalEntityError,
        ),
    ],
    ids=["soap-1.1", "html-error-page", "no-body", "xxe"],
)
def test_bad_envelopes_get_specific_errors(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_envelope(data)


def test_schema_helper_rejects_invalid_envelope() -> None:
    broken = etree.Element(q(ns.SOAP12, "Envelope"))
    etree.SubElement(broken, q(ns.SOAP12, "Bogus"))
    with pytest.raises(AssertionError):
        assert_valid(broken, "xds")


def test_fault_subcode_in_a_namespace_the_envelope_already_declares() -> None:
    fault = SoapFault(
        code=FaultCode.SENDER, reason="no such action", subcodes=(q(ns.WSA, "ActionNotSupported"),)
    )
    parsed = parse_envelope(to_bytes(build_fault_envelope(fault, relates_to=None)))
    assert parsed.fault is not None
    assert parsed.fault.subcodes == (q(ns.WSA, "ActionNotSupported"),)
