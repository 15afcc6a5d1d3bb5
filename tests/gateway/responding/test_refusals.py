"""Crafted bad requests: each gets the right SOAP Fault (status, code, subcode, HG code) and exactly one
RefusalEvent with the right reason, and nothing else is stored."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from lxml import etree

from gateway.audit import Direction, RefusalEvent, RefusalReason, Transaction
from gateway.responding import create_responding_app
from gateway.security import PartnerSecurityOptions
from tests.gateway.responding.conftest import Responder, outbound
from tests.gateway.responding.messages import find_documents_body, iti55_body
from xca import ns
from xca.errors import WsseFault
from xca.iti55 import Demographics, PersonName
from xca.soap import Action, FaultCode, parse_envelope

_SOAP = "application/soap+xml; charset=UTF-8"
_QUERY = Demographics(names=(PersonName(given=("Grace",), family="Alder"),), birth_date=dt.date(1998, 5, 4))


@dataclass(frozen=True)
class Case:
    """A bad request: how to make it, where it goes, and what must come back."""

    make: Callable[[Responder], tuple[bytes, str]]
    transaction: Transaction
    status: int
    code: FaultCode
    hg_codes: tuple[str, ...]
    reason: RefusalReason
    subcode: str | None = None
    requestor_known: bool = False


def _signed(r: Responder, **kw: object) -> bytes:
    return r.sign(iti55_body(_QUERY), Action.ITI55_REQUEST, r.config.paths.iti55, **kw)  # type: ignore[arg-type]


def _unsigned(r: Responder) -> tuple[bytes, str]:
    envelope = parse_envelope(_signed(r)).root
    header = envelope.find(f"{{{ns.SOAP12}}}Header")
    assert header is not None
    header.remove(header.find(f"{{{ns.WSSE}}}Security"))  # type: ignore[arg-type]
    return etree.tostring(envelope), _SOAP


def _wrapped(r: Responder) -> tuple[bytes, str]:
    """Signature wrapping: the signed Body moves into a header block, a forged Body takes its place."""
    envelope = parse_envelope(_signed(r)).root
    body = envelope.find(f"{{{ns.SOAP12}}}Body")
    header = envelope.find(f"{{{ns.SOAP12}}}Header")
    assert body is not None
    assert header is not None
    forged = etree.fromstring(etree.tostring(body))
    for given in forged.iter("{urn:hl7-org:v3}given"):
        given.text = "Mallory"
    wrapper = etree.SubElement(header, "{urn:example:attacker}Wrapper")
    envelope.replace(body, forged)
    wrapper.append(body)
    return etree.tostring(envelope), _SOAP


def _tampered(r: Responder) -> tuple[bytes, str]:
    return _signed(r).replace(b"<given>Grace</given>", b"<given>Mallory</given>"), _SOAP


def _expired(r: Responder) -> tuple[bytes, str]:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    return _signed(r, security=outbound(r.pki, clock=lambda: past)), _SOAP


def _wrong_audience(r: Responder) -> tuple[bytes, str]:
    return _signed(r, options=PartnerSecurityOptions(audience="https://someone-else.example/xcpd")), _SOAP


def _replayed(r: Responder) -> tuple[bytes, str]:
    data = _signed(r)
    first = r.post(r.config.paths.iti55, data)
    assert first.status_code == 200
    return data, _SOAP


def _wrong_action(r: Responder) -> tuple[bytes, str]:
    """An ITI-38 query sent to the ITI-55 endpoint."""
    path = r.config.paths.iti55
    return r.sign(find_documents_body(r.seeded.grace.cx), Action.ITI38_REQUEST, path), _SOAP


def _not_hl7(r: Responder) -> tuple[bytes, str]:
    """Correctly signed, right action, but the body is not a PRPA_IN201305UV02."""
    return r.sign(find_documents_body(r.seeded.grace.cx), Action.ITI55_REQUEST, r.config.paths.iti55), _SOAP


_XXE = b"""<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>&x;</e:Body></e:Envelope>"""
_SOAP11 = b"""<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>"""

CASES = {
    "malformed-xml": Case(lambda r: (b"<soap:Envelope><oops", _SOAP), Transaction.ITI_55, 400,
                          FaultCode.SENDER, ("HG-2002",), RefusalReason.MALFORMED_MESSAGE,
                          WsseFault.INVALID_SECURITY),
    "xxe": Case(lambda r: (_XXE, _SOAP), Transaction.ITI_55, 400, FaultCode.SENDER, ("HG-2006",),
                RefusalReason.MALFORMED_MESSAGE, WsseFault.INVALID_SECURITY),
    "not-soap-media-type": Case(lambda r: (b"hello", "text/plain"), Transaction.ITI_38, 400, FaultCode.SENDER,
                                ("HG-2101",), RefusalReason.MALFORMED_MESSAGE),
    "soap-1.1": Case(lambda r: (_SOAP11, "text/xml"), Transaction.ITI_39, 500, FaultCode.VERSION_MISMATCH,
                     ("HG-2101",), RefusalReason.MALFORMED_MESSAGE),
    "oversized": Case(lambda r: (b"<a>" + b" " * (r.config.max_request_bytes + 10) + b"</a>", _SOAP),
                      Transaction.ITI_55, 400, FaultCode.SENDER, ("HG-2001",),
                      RefusalReason.MALFORMED_MESSAGE, WsseFault.INVALID_SECURITY),
    "unsigned": Case(_unsigned, Transaction.ITI_55, 400, FaultCode.SENDER, ("HG-3101",),
                     RefusalReason.BAD_SIGNATURE, WsseFault.INVALID_SECURITY),
    "wrapped": Case(_wrapped, Transaction.ITI_55, 400, FaultCode.SENDER, ("HG-3102", "HG-3105"),
                    RefusalReason.BAD_SIGNATURE),
    "tampered": Case(_tampered, Transaction.ITI_55, 400, FaultCode.SENDER, ("HG-3107",),
                     RefusalReason.BAD_SIGNATURE, WsseFault.FAILED_CHECK),
    "expired": Case(_expired, Transaction.ITI_55, 400, FaultCode.SENDER, ("HG-3115", "HG-3120"),
                    RefusalReason.POLICY),
    "wrong-audience": Case(_wrong_audience, Transaction.ITI_55, 400, FaultCode.SENDER, ("HG-3117",),
                           RefusalReason.POLICY, WsseFault.FAILED_AUTHENTICATION),
    "replayed": Case(_replayed, Transaction.ITI_55, 400, FaultCode.SENDER, ("HG-3123",), RefusalReason.POLICY,
                     WsseFault.INVALID_SECURITY),
    "wrong-action": Case(_wrong_action, Transaction.ITI_55, 400, FaultCode.SENDER, ("HG-2101",),
                         RefusalReason.MALFORMED_MESSAGE, f"{{{ns.WSA}}}ActionNotSupported",
                         requestor_known=True),
    "iti55-body-not-hl7": Case(_not_hl7, Transaction.ITI_55, 400, FaultCode.SENDER, ("HG-2101",),
                               RefusalReason.MALFORMED_MESSAGE, requestor_known=True),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_bad_request_is_refused_with_a_fault_and_one_audit_record(responder: Responder, name: str) -> None:
    case = CASES[name]
    data, content_type = case.make(responder)
    before_seq = responder.last_seq()
    before = responder.counts()
    reply = responder.post(responder.config.paths.for_transaction(case.transaction), data, content_type)

    assert reply.status_code == case.status
    assert reply.headers["content-type"].startswith("application/soap+xml")
    envelope = parse_envelope(reply.content)
    assert envelope.addressing.action == Action.FAULT
    fault = envelope.fault
    assert fault is not None
    assert fault.code is case.code
    assert fault.detail in case.hg_codes
    if case.subcode:
        assert fault.subcodes[0] == case.subcode
    assert "Traceback" not in reply.text
    assert "Alder" not in fault.reason

    records = responder.records_since(before_seq)
    assert len(records) == 1
    event = records[0].event
    assert isinstance(event, RefusalEvent)
    assert event.reason is case.reason
    assert event.direction is Direction.RESPONDING
    assert event.transaction is case.transaction
    assert event.error_codes == (fault.detail,)
    assert event.remote.certificate_subject
    assert "hie-gateway-dev" in event.remote.certificate_subject
    assert (event.requestor is not None) is case.requestor_known
    after = responder.counts()
    assert after["audit_event"] == before["audit_event"] + 1
    assert {k: v for k, v in after.items() if k != "audit_event"} == {
        k: v for k, v in before.items() if k != "audit_event"
    }


def test_fault_relates_to_the_request_message_id(responder: Responder) -> None:
    data, _ = _unsigned(responder)
    reply = responder.post(responder.config.paths.iti55, data)
    assert parse_envelope(reply.content).addressing.relates_to == parse_envelope(data).addressing.message_id


def _post_xcpd(responder: Responder, declared_length: bytes, messages: list[dict[str, object]]) -> list[int]:
    """The statuses the responding app sends for a POST to /xcpd whose body ``messages`` deliver (the last
    one again when they run out)."""
    app = create_responding_app(responder.gateway)
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0) if len(messages) > 1 else messages[0]

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "https",
        "path": "/xcpd", "raw_path": b"/xcpd", "root_path": "", "query_string": b"",
        "headers": [(b"content-type", b"application/soap+xml"), (b"content-length", declared_length)],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 443), "extensions": {},
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return [int(m["status"]) for m in sent if m["type"] == "http.response.start"]  # type: ignore[call-overload]


def test_caller_gone_before_the_body_is_not_an_error(
    responder: Responder, caplog: pytest.LogCaptureFixture
) -> None:
    """A caller whose timeout fires mid-request: no traceback in the logs, nothing processed or audited."""
    before = responder.counts()
    caplog.set_level(logging.INFO)
    assert _post_xcpd(responder, b"4096", [{"type": "http.disconnect"}]) == [400]
    assert not any(r.exc_info for r in caplog.records)
    assert responder.counts() == before


@pytest.mark.parametrize("declared", [b"\xb2", b"9" * 5000])
def test_an_odd_content_length_is_read_as_no_length(
    responder: Responder, caplog: pytest.LogCaptureFixture, declared: bytes
) -> None:
    """A Content-Length of something else than ASCII digits (the Latin-1 superscript two str.isdigit()
    takes, 5,000 digits int() refuses) is not believed and is no server error: the body read decides."""
    data, _ = _unsigned(responder)
    caplog.set_level(logging.INFO)
    statuses = _post_xcpd(responder, declared, [{"type": "http.request", "body": data, "more_body": False}])
    assert len(statuses) == 1
    assert statuses[0] != 500  # the unsigned request's own refusal, a SOAP Fault
    assert not any(r.exc_info for r in caplog.records)
