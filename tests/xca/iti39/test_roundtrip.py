"""ITI-39 build → HTTP body → parse, in both directions and both transports."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tests.xca.iti39.helpers import (
    CCDA,
    COMMUNITY_A,
    COMMUNITY_B,
    PDF,
    REPOSITORY_A,
    REPOSITORY_B,
    documents,
    requests,
)
from xca.iti39 import (
    RetrievedDocument,
    RetrieveResponse,
    Transport,
    build_iti39_request,
    build_iti39_response,
    parse_iti39_request,
    parse_iti39_response,
    to_http,
)
from xca.mtom import read_soap_message
from xca.registry import ErrorSeverity, RegistryError, ResponseStatus, XdsErrorCode
from xca.soap import Action, Addressing, build_envelope

REQUEST_ID = "urn:uuid:6b3c7d1a-2f4e-4d5c-9a8b-1c2d3e4f5a6b"


def _respond(
    documents_: list[RetrievedDocument],
    transport: Transport,
    *,
    errors: Sequence[RegistryError] = (),
    home_community_id: str | None = None,
) -> tuple[RetrieveResponse, bytes]:
    built = build_iti39_response(
        documents_, transport=transport, errors=errors, home_community_id=home_community_id
    )
    envelope = build_envelope(built.body, Addressing.response(Action.ITI39_RESPONSE, relates_to=REQUEST_ID))
    body, content_type = to_http(envelope, built.attachments, transport=transport)
    return parse_iti39_response(body, content_type), body


@pytest.mark.parametrize("transport", [Transport.MTOM, Transport.INLINE])
def test_request_round_trip_across_two_communities_and_two_repositories(transport: Transport) -> None:
    addressing = Addressing.request(
        Action.ITI39_REQUEST, to="https://responder.example/xca", message_id=REQUEST_ID
    )
    envelope = build_envelope(build_iti39_request(requests()), addressing)
    body, content_type = to_http(envelope, transport=transport)
    parsed = parse_iti39_request(body, content_type)
    assert parsed.documents == tuple(requests())
    assert parsed.addressing == addressing
    assert parsed.transport is transport  # answer in the form the request came in
    assert parsed.quirks == ()
    assert {d.home_community_id for d in parsed.documents} == {COMMUNITY_A, COMMUNITY_B}
    assert {d.repository_unique_id for d in parsed.documents} == {REPOSITORY_A, REPOSITORY_B}


@pytest.mark.parametrize("transport", [Transport.MTOM, Transport.INLINE])
def test_success_round_trip_returns_every_document(transport: Transport) -> None:
    parsed, body = _respond(documents(), transport)
    assert parsed.status is ResponseStatus.SUCCESS
    assert parsed.transport is transport
    assert parsed.documents == tuple(documents())
    assert [bytes(d.content) for d in parsed.documents] == [CCDA, PDF, CCDA]
    assert [d.mime_type for d in parsed.documents] == [
        "text/xml",
        "application/pdf",
        "text/xml; charset=UTF-8",
    ]
    assert parsed.errors == parsed.unreadable == parsed.quirks == ()
    assert parsed.addressing is not None
    assert parsed.addressing.relates_to == REQUEST_ID
    if transport is Transport.MTOM:  # zero-copy: every document is a view into the HTTP body
        assert all(isinstance(d.content, memoryview) and d.content.obj is body for d in parsed.documents)


@pytest.mark.parametrize("transport", [Transport.MTOM, Transport.INLINE])
def test_partial_success_with_an_error_and_documents(transport: Transport) -> None:
    error = RegistryError(XdsErrorCode.MISSING_DOCUMENT.value, "document not found", ErrorSeverity.ERROR)
    parsed, _ = _respond(documents()[:2], transport, errors=[error], home_community_id=COMMUNITY_A)
    assert parsed.status is ResponseStatus.PARTIAL_SUCCESS
    assert len(parsed.documents) == 2
    [received] = parsed.errors
    assert received.known_code is XdsErrorCode.MISSING_DOCUMENT
    assert received.location == f"urn:oid:{COMMUNITY_A}"
    assert received.code_context == "document not found"


@pytest.mark.parametrize("transport", [Transport.MTOM, Transport.INLINE])
def test_on_demand_document_keeps_new_ids(transport: Transport) -> None:
    document = RetrievedDocument(
        COMMUNITY_B,
        REPOSITORY_B,
        "1.3.6.1.4.1.21367.13.70.200.9.1",
        "text/xml",
        CCDA,
        new_repository_unique_id=REPOSITORY_A,
        new_document_unique_id="1.3.6.1.4.1.21367.13.70.200.9.1.20250101",
    )
    parsed, _ = _respond([document], transport)
    [received] = parsed.documents
    assert received == document
    assert received.retrieved_unique_id == "1.3.6.1.4.1.21367.13.70.200.9.1.20250101"


def test_failure_without_documents() -> None:
    error = RegistryError(XdsErrorCode.UNKNOWN_REPOSITORY_ID.value, "unknown repository", location=None)
    parsed, _ = _respond([], Transport.MTOM, errors=[error], home_community_id=COMMUNITY_B)
    assert parsed.status is ResponseStatus.FAILURE
    assert parsed.documents == ()
    assert [e.error_code for e in parsed.errors] == ["XDSUnknownRepositoryId"]
    assert parsed.quirks == ()


def test_already_read_message_and_element_inputs() -> None:
    built = build_iti39_response(documents())
    envelope = build_envelope(built.body, Addressing.response(Action.ITI39_RESPONSE, relates_to=REQUEST_ID))
    body, content_type = to_http(envelope, built.attachments)
    message = read_soap_message(body, content_type)  # e.g. verified by gateway.security in between
    assert parse_iti39_response(message).documents == tuple(documents())
    inline = build_iti39_response(documents(), transport=Transport.INLINE)
    assert parse_iti39_response(inline.body).documents == tuple(documents())
    assert parse_iti39_request(build_iti39_request(requests())).documents == tuple(requests())
