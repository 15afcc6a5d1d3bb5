"""ITI-55 round trips: build → serialize → hardened parse → parse gives back the same model, on both sides;
and the responding side answers a real peer's query with a schema-valid echo."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from tests.xca.iti55 import factories as f
from tests.xca.schemas import assert_valid
from xca.iti55 import (
    Demographics,
    ErrorCode,
    Ii,
    Iti55Request,
    Iti55Response,
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
}
RESPONSES: dict[str, Callable[[], Iti55Response]] = {
    "one match": lambda: f.response(matches=(f.match(),)),
    "several matches": lambda: f.response(
        matches=(f.match("P-1", 99), f.match("P-2", 0), f.match("P-3", 100))
    ),
    "no match": lambda: f.response(),
    "more attributes": lambda: f.response(requested=tuple(RequestedAttribute)),
    "error": lambda: f.response(error=ErrorCode.INTERNAL_ERROR),
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
