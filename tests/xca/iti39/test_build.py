"""ITI-39 builders: schema-valid output in both transports, derived status, strict input checks."""

from __future__ import annotations

import base64

import pytest
from lxml import etree

from tests.xca.iti39.helpers import (
    COMMUNITY_A,
    COMMUNITY_B,
    REPOSITORY_A,
    assert_valid_xop,
    documents,
    requests,
)
from tests.xca.schemas import assert_valid
from xca import ns
from xca.errors import InvalidValueError
from xca.iti39 import (
    DocumentRequest,
    RetrievedDocument,
    Transport,
    build_iti39_request,
    build_iti39_response,
    to_http,
)
from xca.ns import q
from xca.registry import RegistryError, ResponseStatus, XdsErrorCode
from xca.soap import CONTENT_TYPE, Action, Addressing, build_envelope


def _texts(element: etree._Element, path: str) -> list[str]:
    return [e.text or "" for e in element.iterfind(path, {"x": ns.XDSB})]


def test_request_is_schema_valid_with_urn_home_and_bare_repository() -> None:
    body = build_iti39_request(requests())
    assert_valid(body, "xds")
    assert_valid(
        build_envelope(body, Addressing.request(Action.ITI39_REQUEST, to="https://r.example/xca")), "xds"
    )
    assert _texts(body, "x:DocumentRequest/x:HomeCommunityId") == [
        f"urn:oid:{COMMUNITY_A}",
        f"urn:oid:{COMMUNITY_A}",
        f"urn:oid:{COMMUNITY_B}",
    ]
    assert _texts(body, "x:DocumentRequest/x:RepositoryUniqueId")[0] == REPOSITORY_A


@pytest.mark.parametrize(
    ("documents_", "message"),
    [
        ([], "at least one"),
        ([DocumentRequest(None, REPOSITORY_A, "1.2.3")], "HomeCommunityId"),
        ([DocumentRequest("urn:oid:1.2.3", REPOSITORY_A, "1.2.3")], "OID"),
        ([DocumentRequest(COMMUNITY_A, "urn:oid:1.2.3", "1.2.3")], "repository unique id"),
        ([DocumentRequest(COMMUNITY_A, REPOSITORY_A, " ")], "document unique id"),
        ([DocumentRequest(COMMUNITY_A, REPOSITORY_A, "1.2 3")], "document unique id"),
    ],
)
def test_request_build_is_strict(documents_: list[DocumentRequest], message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        build_iti39_request(documents_)


def test_mtom_response_references_attachments_and_is_schema_valid() -> None:
    sent = documents()
    built = build_iti39_response(sent, content_ids=["d1@x", "d2@x", "d3@x"])
    assert built.transport is Transport.MTOM
    assert [a.content_id for a in built.attachments] == ["d1@x", "d2@x", "d3@x"]
    assert [a.content_type for a in built.attachments] == [
        "text/xml",
        "application/pdf",
        "text/xml; charset=UTF-8",
    ]
    assert all(
        a.content is d.content for a, d in zip(built.attachments, sent, strict=True)
    )  # shared, not copied
    hrefs = [e.get("href") for e in built.body.iter(q(ns.XOP, "Include"))]
    assert hrefs == ["cid:d1@x", "cid:d2@x", "cid:d3@x"]
    registry_response = built.body.find(q(ns.RS, "RegistryResponse"))
    assert registry_response is not None
    assert registry_response.get("status") == ResponseStatus.SUCCESS.value
    assert_valid_xop(built.body, built.attachments)


def test_inline_response_is_base64_and_schema_valid() -> None:
    built = build_iti39_response(documents(), transport=Transport.INLINE)
    assert built.attachments == ()
    assert [base64.b64decode(t) for t in _texts(built.body, "x:DocumentResponse/x:Document")] == [
        bytes(d.content) for d in documents()
    ]
    assert_valid(built.body, "xds")


def test_status_is_derived_and_error_location_is_the_responding_community() -> None:
    error = RegistryError(XdsErrorCode.MISSING_DOCUMENT.value, "document 1.2.3 not found")
    partial = build_iti39_response(documents()[:1], errors=[error], home_community_id=COMMUNITY_A)
    failure = build_iti39_response([], errors=[error], transport=Transport.INLINE)
    explicit = build_iti39_response([], status=ResponseStatus.FAILURE)
    statuses = [b.body[0].get("status") for b in (partial, failure, explicit)]
    assert statuses == [ResponseStatus.PARTIAL_SUCCESS, ResponseStatus.FAILURE, ResponseStatus.FAILURE]
    located = partial.body.find(
        f"{q(ns.RS, 'RegistryResponse')}/{q(ns.RS, 'RegistryErrorList')}/{q(ns.RS, 'RegistryError')}"
    )
    assert located is not None
    assert located.get("location") == f"urn:oid:{COMMUNITY_A}"
    assert_valid_xop(partial.body, partial.attachments)
    assert_valid(failure.body, "xds")
    assert_valid(explicit.body, "xds")


def test_on_demand_response_carries_new_ids_in_schema_order() -> None:
    document = RetrievedDocument(
        COMMUNITY_A,
        REPOSITORY_A,
        "1.2.3.4.5",
        "text/xml",
        b"<x/>",
        new_repository_unique_id="1.2.3.9",
        new_document_unique_id="1.2.3.4.5.1",
    )
    built = build_iti39_response([document], transport=Transport.INLINE)
    response = built.body.find(q(ns.XDSB, "DocumentResponse"))
    assert response is not None
    assert [c.tag.split("}")[1] for c in response] == [
        "HomeCommunityId",
        "RepositoryUniqueId",
        "DocumentUniqueId",
        "NewRepositoryUniqueId",
        "NewDocumentUniqueId",
        "mimeType",
        "Document",
    ]
    assert_valid(built.body, "xds")


def test_response_build_is_strict() -> None:
    homeless = RetrievedDocument(None, REPOSITORY_A, "1.2.3", "text/xml", b"x")
    with pytest.raises(InvalidValueError, match="HomeCommunityId"):
        build_iti39_response([homeless])
    with pytest.raises(InvalidValueError, match="one Content-ID per document"):
        build_iti39_response(documents(), content_ids=["a@x"])
    bad_mime = RetrievedDocument(COMMUNITY_A, REPOSITORY_A, "1.2.3", "text/xml\r\nX-Evil: 1", b"x")
    with pytest.raises(InvalidValueError, match="mime type"):
        build_iti39_response([bad_mime])


def test_to_http_packages_mtom_or_plain_soap() -> None:
    built = build_iti39_response(documents())
    envelope = build_envelope(built.body, Addressing.response(Action.ITI39_RESPONSE, relates_to="urn:uuid:1"))
    body, content_type = to_http(envelope, built.attachments, boundary="B", root_content_id="root@x")
    assert content_type.startswith(
        'multipart/related; boundary="B"; type="application/xop+xml"; start="<root@x>"'
    )
    assert body.count(b"\r\n--B\r\n") == 3
    inline = build_iti39_response(documents(), transport=Transport.INLINE)
    envelope = build_envelope(
        inline.body, Addressing.response(Action.ITI39_RESPONSE, relates_to="urn:uuid:1")
    )
    body, content_type = to_http(envelope, transport=Transport.INLINE)
    assert content_type == CONTENT_TYPE
    assert body.startswith(b"<?xml")
    with pytest.raises(InvalidValueError, match="attachments"):
        to_http(envelope, built.attachments, transport=Transport.INLINE)
