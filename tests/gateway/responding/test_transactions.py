"""The three transactions end to end over mutual TLS: answers, registry errors, and one audit record each."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from lxml import etree

from gateway.audit import Direction, Outcome, Transaction, TransactionEvent
from tests.gateway.responding.conftest import HOME, Responder
from tests.gateway.responding.messages import find_documents_body, get_documents_body, iti39_body, iti55_body
from xca.ids import Cx
from xca.iti38 import QueryResponse, parse_iti38_response
from xca.iti39 import parse_iti39_response
from xca.iti55 import (
    AckCode,
    AdministrativeGender,
    Demographics,
    Iti55Response,
    PartialDate,
    PersonName,
    QueryResponseCode,
    RequestedAttribute,
    ResponsePriority,
    parse_iti55_response,
)
from xca.registry import ResponseStatus, XdsErrorCode
from xca.soap import Action, parse_envelope


def _one_event(responder: Responder, before: int) -> TransactionEvent:
    records = responder.records_since(before)
    assert len(records) == 1
    event = records[0].event
    assert isinstance(event, TransactionEvent)
    assert event.direction is Direction.RESPONDING
    assert event.requestor.user_id == "dr.synthetic@caller.example"
    assert event.remote.certificate_subject is not None
    return event


def _query(
    responder: Responder,
    demographics: Demographics,
    *,
    priority: ResponsePriority = ResponsePriority.IMMEDIATE,
    without: tuple[str, ...] = (),
) -> tuple[Iti55Response, TransactionEvent]:
    before = responder.last_seq()
    body = iti55_body(demographics, priority=priority)
    for local in without:
        for element in list(body.iter(f"{{urn:hl7-org:v3}}{local}")):
            element.getparent().remove(element)  # type: ignore[union-attr]
    data = responder.sign(body, Action.ITI55_REQUEST, responder.config.paths.iti55)
    reply = responder.post(responder.config.paths.iti55, data)
    assert reply.status_code == 200
    envelope = parse_envelope(reply.content)
    assert envelope.addressing.action == Action.ITI55_RESPONSE
    assert envelope.addressing.relates_to == parse_envelope(data).addressing.message_id
    assert envelope.body is not None
    return parse_iti55_response(envelope.body), _one_event(responder, before)


def test_iti55_finds_the_patient_by_name_and_birth_date(responder: Responder) -> None:
    grace = responder.seeded.grace
    name = grace.demographics.names[0]
    asked = Demographics(
        names=(PersonName(given=tuple(g.upper() for g in name.given), family=name.family),),
        birth_date=grace.demographics.birth_date,
    )
    response, event = _query(responder, asked)
    assert response.query_response_code is QueryResponseCode.OK
    (match,) = response.matches
    assert (match.patient_id.root, match.patient_id.extension) == (grace.cx.root, grace.cx.id)
    assert match.home_community_id == HOME
    assert match.score is not None
    assert match.score >= 85
    assert event.transaction is Transaction.ITI_55
    assert event.outcome is Outcome.SUCCESS
    assert [p.value for p in event.patients] == [grace.cx.id]
    assert event.raw_query
    assert "queryByParameter" in event.raw_query
    assert event.latency_ms is not None
    assert event.response_bytes


def test_iti55_unknown_patient_is_no_match(responder: Responder) -> None:
    asked = Demographics(
        names=(PersonName(given=("Nobody",), family="Unknownperson"),), birth_date=dt.date(1950, 1, 1)
    )
    response, event = _query(responder, asked)
    assert response.query_response_code is QueryResponseCode.NF
    assert not response.matches
    assert event.outcome is Outcome.SUCCESS
    assert event.patients == ()


def test_iti55_twins_asked_by_birth_year_only_are_ambiguous(responder: Responder) -> None:
    asked = Demographics(
        names=(PersonName(given=("Anna",), family="Quintero"),), birth_date_partial=PartialDate(1990)
    )
    response, _ = _query(responder, asked)
    assert response.query_response_code is QueryResponseCode.NF
    assert set(response.requested_attributes) >= {RequestedAttribute.ADDRESS, RequestedAttribute.TELECOM}


def test_iti55_twin_is_told_apart_by_given_name(responder: Responder) -> None:
    twin = responder.seeded.twin_hanna
    asked = Demographics(
        names=(PersonName(given=("Hanna",), family="Quintero"),),
        birth_date=twin.demographics.birth_date,
        gender=AdministrativeGender.FEMALE,
    )
    response, _ = _query(responder, asked)
    (match,) = response.matches
    assert match.patient_id.extension == twin.cx.id


def test_iti55_without_birth_time_or_id_is_a_query_error(responder: Responder) -> None:
    # Our builder refuses such a query, so the birth time is cut out of a built one.
    asked = Demographics(
        names=(PersonName(given=("Grace",), family="Alder"),), birth_date=dt.date(1998, 5, 4)
    )
    response, event = _query(responder, asked, without=("livingSubjectBirthTime",))
    assert response.ack_code is AckCode.AE
    assert response.query_response_code is QueryResponseCode.QE
    assert event.outcome is Outcome.SERIOUS_FAILURE
    assert event.error_codes == ("QE",)


def test_iti55_deferred_query_is_answered_not_available(responder: Responder) -> None:
    grace = responder.seeded.grace
    asked = Demographics(names=grace.demographics.names, birth_date=grace.demographics.birth_date)
    response, event = _query(responder, asked, priority=ResponsePriority.DEFERRED)
    assert response.query_response_code is QueryResponseCode.AE
    assert "AnswerNotAvailable" in response.error_codes
    assert event.error_codes == ("AnswerNotAvailable",)


def _iti38(responder: Responder, body: etree._Element) -> tuple[QueryResponse, TransactionEvent]:
    before = responder.last_seq()
    path = responder.config.paths.iti38
    reply = responder.post(path, responder.sign(body, Action.ITI38_REQUEST, path))
    assert reply.status_code == 200
    envelope = parse_envelope(reply.content)
    assert envelope.addressing.action == Action.ITI38_RESPONSE
    assert envelope.body is not None
    return parse_iti38_response(envelope.body), _one_event(responder, before)


def test_iti38_find_documents_lists_the_patients_document(responder: Responder) -> None:
    grace = responder.seeded.grace
    response, event = _iti38(responder, find_documents_body(grace.cx))
    assert response.status is ResponseStatus.SUCCESS
    (entry,) = response.documents
    assert entry.unique_id == responder.seeded.document_id
    assert entry.patient_id == grace.cx
    assert entry.home_community_id == HOME
    assert entry.type_code is not None
    assert entry.type_code.code == "34133-9"
    assert entry.size == len(responder.seeded.document)
    assert not entry.quirks
    assert event.outcome is Outcome.SUCCESS
    assert [d.unique_id for d in event.documents] == [responder.seeded.document_id]
    assert any(p.name == "$XDSDocumentEntryPatientId" for p in event.query_parameters)


def test_iti38_get_documents_by_unique_id(responder: Responder) -> None:
    response, event = _iti38(responder, get_documents_body(responder.seeded.document_id))
    assert [d.unique_id for d in response.documents] == [responder.seeded.document_id]
    assert [p.value for p in event.patients] == [responder.seeded.grace.cx.id]


def test_iti38_unknown_patient_is_a_registry_error(responder: Responder) -> None:
    response, event = _iti38(responder, find_documents_body(Cx("NOPE-1", f"{HOME}.2")))
    assert response.status is ResponseStatus.FAILURE
    assert [e.error_code for e in response.errors] == [XdsErrorCode.UNKNOWN_PATIENT_ID]
    assert event.error_codes == ("XDSUnknownPatientId",)
    assert event.outcome is Outcome.SERIOUS_FAILURE


def test_iti38_missing_status_slot_is_a_registry_error(responder: Responder) -> None:
    body = find_documents_body(responder.seeded.grace.cx)
    for slot in body.iter("{*}Slot"):
        if slot.get("name") == "$XDSDocumentEntryStatus":
            slot.getparent().remove(slot)  # type: ignore[union-attr]
    response, event = _iti38(responder, body)
    assert response.status is ResponseStatus.FAILURE
    assert [e.error_code for e in response.errors] == [XdsErrorCode.STORED_QUERY_MISSING_PARAM]
    assert event.error_codes == ("XDSStoredQueryMissingParam",)


def test_iti39_returns_the_document_as_mtom(responder: Responder) -> None:
    config = responder.config
    before = responder.last_seq()
    body = iti39_body((HOME, config.repository_unique_id, responder.seeded.document_id))
    reply = responder.post(config.paths.iti39, responder.sign(body, Action.ITI39_REQUEST, config.paths.iti39))
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("multipart/related")
    response = parse_iti39_response(reply.content, reply.headers["content-type"])
    assert response.status is ResponseStatus.SUCCESS
    (document,) = response.documents
    assert bytes(document.content) == responder.seeded.document
    assert document.mime_type == "text/xml"
    event = _one_event(responder, before)
    assert event.transaction is Transaction.ITI_39
    assert [d.unique_id for d in event.documents] == [responder.seeded.document_id]
    assert [p.value for p in event.patients] == [responder.seeded.grace.cx.id]


def test_iti39_partial_success_names_each_missing_document(responder: Responder) -> None:
    config = responder.config
    body = iti39_body(
        (HOME, config.repository_unique_id, responder.seeded.document_id),
        (HOME, config.repository_unique_id, f"{HOME}.9.404"),
        ("1.2.3.4.5", config.repository_unique_id, responder.seeded.document_id),
        (HOME, "1.2.3.4.6", responder.seeded.document_id),
    )
    before = responder.last_seq()
    reply = responder.post(config.paths.iti39, responder.sign(body, Action.ITI39_REQUEST, config.paths.iti39))
    response = parse_iti39_response(reply.content, reply.headers["content-type"])
    assert response.status is ResponseStatus.PARTIAL_SUCCESS
    assert len(response.documents) == 1
    assert [e.error_code for e in response.errors] == [
        XdsErrorCode.DOCUMENT_UNIQUE_ID_ERROR,
        XdsErrorCode.UNKNOWN_COMMUNITY,
        XdsErrorCode.UNKNOWN_REPOSITORY_ID,
    ]
    assert all(e.location == f"urn:oid:{HOME}" for e in response.errors)
    event = _one_event(responder, before)
    assert event.outcome is Outcome.MINOR_FAILURE


def test_no_phi_in_the_gateways_log(responder: Responder, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        test_iti55_finds_the_patient_by_name_and_birth_date(responder)
        test_iti39_returns_the_document_as_mtom(responder)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("gateway", "uvicorn")))
    grace = responder.seeded.grace
    assert (grace.demographics.names[0].family or "?") not in ours
    assert grace.cx.id not in ours
    assert not re.search(r"\b(19|20)\d{6}\b", ours)
