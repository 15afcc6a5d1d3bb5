"""ITI-55 round trips: build → serialize → hardened parse → parse gives back the same model, on both sides;
and the responding side answers a real peer's query with a schema-valid echo."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from tests.xca.iti55 import factories as f
from tests.xca.schemas import assert_valid
from xca.iti55 import (
    Demographics,
    ErrorCode,
    Ii,
    Iti55Request,
    Iti55Response,
    PartialDate,
    PersonName,
    ProcessingCode,
    RequestedAttribute,
    ResponsePriority,
    build_iti55_request,
    build_iti55_response,
    iti55_response_for,
    parse_iti55_request,
    parse_iti55_response,
)
from xca.safexml import parse_xml
from xca.soap import Action, Addressing, build_envelope, parse_envelope, to_bytes

REQUESTS: dict[str, Callable[[], Iti55Request]] = {
    "full": lambda: f.request(),
    "SSN only": lambda: f.request(f.SSN_ONLY),
    "unstructured name": lambda: f.request(replace(f.SSN_ONLY, names=(PersonName(text="Avery Testperson"),))),
    "deferred": lambda: f.request(
        query=replace(f.request().query, priority=ResponsePriority.DEFERRED, minimum_degree_match=70),
        respond_to="https://initiator.example/xcpd-deferred",
        processing_code=ProcessingCode.TRAINING,
    ),
    "naive creation time": lambda: f.request(creation_time=datetime(2024, 1, 31, 23, 59, 59)),
    "partial birth date": lambda: f.request(
        Demographics(names=f.FULL.names[:1], birth_date_partial=PartialDate(1971, 2))
    ),
}
RESPONSES: dict[str, Callable[[], Iti55Response]] = {
    "one match": lambda: f.response(matches=(f.match(),)),
    "several matches": lambda: f.response(
        matches=(f.match("P-1", 99), f.match("P-2", 0), f.match("P-3", 100))
    ),
    "no match": lambda: f.response(),
    "more attributes": lambda: f.response(requested=tuple(RequestedAttribute)),
    "error": lambda: f.response(error=ErrorCode.INTERNAL_ERROR),
    "match born in a known year": lambda: f.response(
        matches=(
            f.match(
                demographics=replace(
                    f.MATCH_DEMOGRAPHICS, birth_date=None, birth_date_partial=PartialDate(1971)
                )
            ),
        )
    ),
}


@pytest.mark.parametrize("make", REQUESTS.values(), ids=REQUESTS.keys())
def test_request_round_trip(make: Callable[[], Iti55Request]) -> None:
    request = make()
    parsed = parse_iti55_request(parse_xml(to_bytes(build_iti55_request(request))))
    assert parsed == request
    assert parsed.quirks == ()


@pytest.mark.parametrize("make", RESPONSES.values(), ids=RESPONSES.keys())
def test_response_round_trip(make: Callable[[], Iti55Response]) -> None:
    response = make()
    parsed = parse_iti55_response(to_bytes(build_iti55_response(response)))
    assert parsed == response
    assert parsed.quirks == ()


def test_round_trip_through_soap_envelopes() -> None:
    request = f.request()
    wire = to_bytes(
        build_envelope(
            build_iti55_request(request), Addressing.request(Action.ITI55_REQUEST, to="https://r.example/x")
        )
    )
    envelope = parse_envelope(wire)
    assert envelope.body is not None
    received = parse_iti55_request(envelope.body)
    assert received == request
    answer = iti55_response_for(
        received,
        message_id=Ii("1.3.6.1.4.1.88888.4", "R-9"),
        creation_time=datetime(2024, 5, 1, 12, 31),
        responder=f.RESPONDER,
        matches=(f.match(),),
    )
    back = build_envelope(
        build_iti55_response(answer),
        Addressing.response(Action.ITI55_RESPONSE, relates_to=envelope.addressing.message_id),
    )
    reply = parse_envelope(to_bytes(back))
    assert reply.body is not None
    assert parse_iti55_response(reply.body) == answer


@pytest.mark.parametrize(
    "sample",
    [
        "ipf__iti55_request_body__iti55-sample-request.xml",
        "nist__xcpd_request_template_annotated__findpatient.xml",
    ],
)
def test_answering_a_peer_query_echoes_it_validly(shared_dir: Path, sample: str) -> None:
    path = shared_dir / "ihe" / "samples" / sample
    if not path.is_file():
        pytest.skip(f"sample {sample} is absent")
    received = parse_iti55_request(path.read_bytes())
    for kwargs in ({}, {"matches": (f.match(),)}, {"error": ErrorCode.ANSWER_NOT_AVAILABLE}):
        answer = iti55_response_for(
            received,
            message_id=Ii("1.3.6.1.4.1.88888.4", "R-2"),
            creation_time=datetime(2024, 5, 1, 12, 31),
            responder=f.RESPONDER,
            **kwargs,
        )
        body = build_iti55_response(answer)
        assert_valid(body, "PRPA_IN201306UV02")
        parsed = parse_iti55_response(to_bytes(body))
        assert parsed.target_message_id == received.message_id
        assert parsed.query is not None
        assert parsed.query.query_id == received.query.query_id


def test_echo_keeps_a_peer_birth_date_that_is_not_a_calendar_date() -> None:
    odd = Demographics(names=f.FULL.names[:1], birth_date_raw="19849711", identifiers=f.SSN_ONLY.identifiers)
    received = replace(f.request(), query=replace(f.request().query, demographics=odd))
    answer = iti55_response_for(
        received,
        message_id=Ii("1.3.6.1.4.1.88888.4", "R-3"),
        creation_time=datetime(2024, 5, 1),
        responder=f.RESPONDER,
    )
    body = build_iti55_response(answer)
    assert_valid(body, "PRPA_IN201306UV02")
    parsed = parse_iti55_response(to_bytes(body))
    assert parsed.query is not None
    assert parsed.query.demographics.birth_date_raw == "19849711"
    assert parsed.quirks == ("unreadable birth date",)


def test_answering_a_query_with_odd_parameters_still_echoes_validly() -> None:
    original = f.request()
    original = replace(original, query=replace(original.query, minimum_degree_match=70))
    text = to_bytes(build_iti55_request(original)).decode()
    for old, new in (
        ('value="70"', 'value="150"'),
        ("<livingSubjectId><value root=", "<livingSubjectId><value x="),
    ):
        assert old in text, old
        text = text.replace(old, new, 1)
    received = parse_iti55_request(text.encode())
    assert received.query.raw is None  # repaired on reading: echoed from the model, so it stays valid
    assert received.query.minimum_degree_match is None
    assert received.query.demographics.identifiers == original.query.demographics.identifiers[1:]
    assert set(received.quirks) == {
        "minimumDegreeMatch outside 0-100 dropped",
        "livingSubjectId without a usable root dropped",
    }
    answer = iti55_response_for(
        received,
        message_id=Ii("1.3.6.1.4.1.88888.4", "R-4"),
        creation_time=datetime(2024, 5, 1),
        responder=f.RESPONDER,
    )
    assert_valid(build_iti55_response(answer), "PRPA_IN201306UV02")


# --- the echo is the received queryByParameter, verbatim ------------------------------------------------

_UNKNOWN_TO_THE_MODEL = {
    "<minimumDegreeMatch>": (
        '<matchAlgorithm><value xsi:type="ST">Soundex-DOB</value>'
        "<semanticsText>LivingSubject.MatchAlgorithm</semanticsText></matchAlgorithm><minimumDegreeMatch>"
    ),
    "<livingSubjectBirthTime>": (
        "<livingSubjectBirthPlaceName><value>Springfield</value>"
        "<semanticsText>LivingSubject.BirthPlace.Place.Name</semanticsText></livingSubjectBirthPlaceName>"
        "<livingSubjectBirthTime>"
    ),
    "<patientAddress>": (
        "<mothersMaidenName><value><family>Mothersfamily</family></value>"
        "<semanticsText>Person.MothersMaidenName</semanticsText></mothersMaidenName><patientAddress>"
    ),
}


def _peer_query(replacements: dict[str, str]) -> bytes:
    original = f.request()
    original = replace(original, query=replace(original.query, minimum_degree_match=70))
    text = to_bytes(build_iti55_request(original)).decode()
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    return text.encode()


def _query_element(body: etree._Element) -> etree._Element:
    found = body.find("{urn:hl7-org:v3}controlActProcess/{urn:hl7-org:v3}queryByParameter")
    assert found is not None
    return found


def test_the_echo_is_the_received_query_verbatim_with_parameters_the_model_does_not_know() -> None:
    wire = _peer_query(_UNKNOWN_TO_THE_MODEL)
    assert_valid(parse_xml(wire), "PRPA_IN201305UV02")
    received = parse_iti55_request(wire)
    assert received.quirks == ()
    assert received.query.raw is not None
    assert ", raw=" not in repr(received.query)
    for kwargs in ({}, {"matches": (f.match(),)}, {"error": ErrorCode.INTERNAL_ERROR}):
        answer = iti55_response_for(
            received,
            message_id=Ii("1.3.6.1.4.1.88888.4", "R-5"),
            creation_time=datetime(2024, 5, 1, 12, 32),
            responder=f.RESPONDER,
            **kwargs,
        )
        body = build_iti55_response(answer)
        assert_valid(body, "PRPA_IN201306UV02")
        echo = _query_element(parse_xml(to_bytes(body)))
        sent = _query_element(parse_xml(wire))
        assert etree.tostring(echo, method="c14n") == etree.tostring(sent, method="c14n")
        text = etree.tostring(echo).decode()
        for marker in (
            "Soundex-DOB",
            "Springfield",
            "Maidenname",
            "semanticsText>LivingSubject.MatchAlgorithm",
        ):
            assert marker in text
        assert parse_iti55_response(to_bytes(body)).query == received.query


def test_raw_is_left_out_of_equality_and_our_own_requests_echo_the_model() -> None:
    received = parse_iti55_request(_peer_query(_UNKNOWN_TO_THE_MODEL))
    assert received.query == replace(received.query, raw=None)
    # Building a request ignores raw: the wire carries only what the model holds.
    rebuilt = to_bytes(build_iti55_request(replace(f.request(), query=received.query)))
    assert b"Mothersfamily" not in rebuilt
    assert b"Soundex-DOB" not in rebuilt


def test_a_query_with_elements_outside_the_schema_is_echoed_from_the_model() -> None:
    wire = _peer_query({"<livingSubjectBirthTime>": "<vendorExtension/><livingSubjectBirthTime>"})
    received = parse_iti55_request(wire)
    assert received.query.raw is None
    assert received.quirks == ("queryByParameter with elements outside the schema; not kept verbatim",)
    answer = iti55_response_for(
        received,
        message_id=Ii("1.3.6.1.4.1.88888.4", "R-6"),
        creation_time=datetime(2024, 5, 1),
        responder=f.RESPONDER,
    )
    body = build_iti55_response(answer)
    assert_valid(body, "PRPA_IN201306UV02")
    assert b"vendorExtension" not in to_bytes(body)
