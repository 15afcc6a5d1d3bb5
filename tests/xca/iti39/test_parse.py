"""ITI-39 parsers: the NIST samples, real-world quirks recorded without crashing, and refused input."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.xca.iti39.helpers import samples
from xca.errors import (
    InvalidValueError,
    MissingElementError,
    MtomFormatError,
    UnexpectedMessageError,
    XmlDtdForbiddenError,
    XmlSyntaxError,
)
from xca.iti39 import Quirk, Transport, parse_iti39_request, parse_iti39_response
from xca.registry import ErrorSeverity, ResponseStatus
from xca.soap import CONTENT_TYPE, FaultCode

NIST_REQUEST_ID = "urn:uuid:0fbfdced-6c01-4d09-a110-2201afedaa02"
NIST_CONTENT = b"R0lGODlhcgGSALMAAAQCAEMmCZtuMFQxDS8b"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
WCF_BOUNDARY = "uuid:8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d+id=3"


def _envelope(payload: str, action: str = "urn:ihe:iti:2007:CrossGatewayRetrieveResponse") -> bytes:
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">'
        f"<s:Header><a:Action>{action}</a:Action><a:RelatesTo>urn:uuid:1</a:RelatesTo></s:Header>"
        f"<s:Body>{payload}</s:Body></s:Envelope>"
    ).encode()


def _response(documents: str, status: str = SUCCESS, errors: str = "") -> bytes:
    return _envelope(
        '<RetrieveDocumentSetResponse xmlns="urn:ihe:iti:xds-b:2007"'
        ' xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"'
        ' xmlns:xop="http://www.w3.org/2004/08/xop/include">'
        f'<rs:RegistryResponse status="{status}">{errors}</rs:RegistryResponse>{documents}'
        "</RetrieveDocumentSetResponse>"
    )


def _document(
    home: str = "<HomeCommunityId>urn:oid:1.2.3</HomeCommunityId>",
    repository: str = "1.2.3.4",
    content: str = "aGVsbG8=",
    mime: str = "<mimeType>text/xml</mimeType>",
) -> str:
    return (
        f"<DocumentResponse>{home}<RepositoryUniqueId>{repository}</RepositoryUniqueId>"
        f"<DocumentUniqueId>1.2.3.4.5</DocumentUniqueId>{mime}<Document>{content}</Document></DocumentResponse>"
    )


def test_nist_request(shared_dir: Path) -> None:
    parsed = parse_iti39_request(samples(shared_dir, "nist__soap-xcr-req.xml"), CONTENT_TYPE)
    assert [
        (d.home_community_id, d.repository_unique_id, d.document_unique_id) for d in parsed.documents
    ] == [
        ("1.2.3.5", "1.3.6.1.4.1000", "1.3.6.1.4.2300"),
        ("1.2.3.5", "1.3.6.1.4.2000", "1.3.6.1.4.2301"),
    ]
    assert parsed.addressing is not None
    assert parsed.addressing.message_id == NIST_REQUEST_ID
    assert parsed.addressing.to == "http://localhost:2647/XcaService/IHEXCAGateway.svc"
    assert parsed.quirks == ()


def test_nist_success_response(shared_dir: Path) -> None:
    parsed = parse_iti39_response(samples(shared_dir, "nist__soap-xret-resp.xml"), "application/soap+xml")
    assert parsed.status is ResponseStatus.SUCCESS
    assert parsed.transport is Transport.INLINE
    assert parsed.addressing is not None
    assert parsed.addressing.relates_to == NIST_REQUEST_ID
    assert len(parsed.documents) == 2
    for document in parsed.documents:
        assert document.home_community_id == "1.2.3"
        assert document.repository_unique_id == "1.3.6.1.4.1000"
        assert document.document_unique_id == "1.3.6.1.4.2300"
        assert document.mime_type == "text/xml"
        assert document.content == NIST_CONTENT
        assert document.quirks == ()
    assert parsed.errors == parsed.unreadable == parsed.quirks == ()


def test_nist_failure_response_with_error_and_documents(shared_dir: Path) -> None:
    parsed = parse_iti39_response(samples(shared_dir, "nist__soap-xret-resp-error.xml"))
    assert parsed.status is ResponseStatus.FAILURE
    [error] = parsed.errors
    assert (error.error_code, error.code_context, error.location) == (
        "MyBigError",
        "My Prog",
        "urn:oid:1.2.3",
    )
    assert error.severity is ErrorSeverity.ERROR
    assert error.known_code is None
    assert len(parsed.documents) == 2
    assert parsed.quirks == (Quirk.FAILURE_WITH_DOCUMENTS,)


def test_nist_homeless_document_is_kept_with_a_quirk(shared_dir: Path) -> None:
    parsed = parse_iti39_response(samples(shared_dir, "nist__soap-xret-resp-homeless.xml"))
    first, second = parsed.documents
    assert first.home_community_id is None
    assert first.quirks == (Quirk.HOME_COMMUNITY_MISSING,)
    assert first.content == NIST_CONTENT
    assert second.home_community_id == "1.2.3"
    assert second.quirks == ()


def test_id_quirks_are_repaired_and_recorded() -> None:
    parsed = parse_iti39_response(
        _response(
            _document(repository="urn:oid:1.2.3.4")
            + _document(home="<HomeCommunityId>1.2.3</HomeCommunityId>")
            + _document(home="<HomeCommunityId>urn:oid:1.2.3}</HomeCommunityId>", mime="")
            + _document(home="<HomeCommunityId>urn:oid:acme</HomeCommunityId>")
        )
    )
    assert [d.repository_unique_id for d in parsed.documents] == ["1.2.3.4"] * 4
    assert [d.home_community_id for d in parsed.documents] == ["1.2.3", "1.2.3", "1.2.3", "urn:oid:acme"]
    assert [d.quirks for d in parsed.documents] == [
        (Quirk.REPOSITORY_ID_WITH_URN,),
        (Quirk.HOME_COMMUNITY_WITHOUT_URN,),
        (Quirk.HOME_COMMUNITY_REPAIRED, Quirk.MIME_TYPE_MISSING),
        (Quirk.HOME_COMMUNITY_NOT_OID,),
    ]
    assert parsed.documents[2].mime_type == "application/octet-stream"


def test_document_that_is_not_base64_is_unreadable_but_the_rest_is_read() -> None:
    wrapped = "\n".join(["aGVs", "bG8g", "d29y", "bGQ="])
    parsed = parse_iti39_response(
        _response(_document(content="<![CDATA[<ClinicalDocument/>]]>") + _document(content=wrapped))
    )
    [unreadable] = parsed.unreadable
    assert unreadable.index == 0
    assert unreadable.reason == "Document is neither base64 nor an xop:Include"
    assert unreadable.document_unique_id == "1.2.3.4.5"
    [document] = parsed.documents
    assert document.content == b"hello world"
    assert parsed.quirks == (Quirk.UNREADABLE_DOCUMENTS,)


def test_missing_ids_or_document_are_unreadable() -> None:
    parsed = parse_iti39_response(
        _response(
            "<DocumentResponse><RepositoryUniqueId>1.2</RepositoryUniqueId><mimeType>a/b</mimeType>"
            "<Document>aGk=</Document></DocumentResponse>"
            "<DocumentResponse><RepositoryUniqueId>1.2</RepositoryUniqueId>"
            "<DocumentUniqueId>9</DocumentUniqueId></DocumentResponse>"
        )
    )
    assert [u.reason for u in parsed.unreadable] == ["DocumentUniqueId missing", "Document missing"]
    assert parsed.documents == ()


def test_mtom_include_with_unknown_cid_is_unreadable() -> None:
    root = _response(_document(content='<xop:Include href="cid:missing@x"/>'))
    body = (
        b'--b\r\nContent-Type: application/xop+xml; type="application/soap+xml"\r\nContent-ID: <r@x>\r\n\r\n'
        + root
        + b"\r\n--b--\r\n"
    )
    parsed = parse_iti39_response(
        body, 'multipart/related; boundary=b; start="<r@x>"; type="application/xop+xml"'
    )
    assert parsed.transport is Transport.MTOM
    assert [u.reason for u in parsed.unreadable] == ["xop:Include references an unknown cid"]


def test_wcf_mtom_response() -> None:
    href = "cid:http%3A%2F%2Ftempuri.org%2F1%2F638712345678901234"
    root = _response(_document(repository="urn:oid:1.2.3.4", content=f'<xop:Include href="{href}"/>'))
    body = (
        f"\r\n--{WCF_BOUNDARY}\r\nContent-ID: <http://tempuri.org/0>\r\nContent-Transfer-Encoding: 8bit\r\n"
        'Content-Type: application/xop+xml;charset=utf-8;type="application/soap+xml"\r\n\r\n'
    ).encode()
    body += (
        root + f"\r\n--{WCF_BOUNDARY}\r\nContent-ID: <http://tempuri.org/1/638712345678901234>\r\n".encode()
    )
    body += b"Content-Transfer-Encoding: binary\r\nContent-Type: application/octet-stream\r\n\r\n"
    body += b"<ClinicalDocument/>\r\n" + f"--{WCF_BOUNDARY}--\r\n".encode()
    content_type = (
        f'multipart/related; type="application/xop+xml";start="<http://tempuri.org/0>";boundary="{WCF_BOUNDARY}";'
        'start-info="application/soap+xml"'
    )
    parsed = parse_iti39_response(body, content_type)
    [document] = parsed.documents
    assert bytes(document.content) == b"<ClinicalDocument/>"
    assert document.quirks == (Quirk.REPOSITORY_ID_WITH_URN,)


@pytest.mark.parametrize(
    ("status", "errors", "documents", "expected_status", "quirks"),
    [
        (SUCCESS, True, True, ResponseStatus.SUCCESS, (Quirk.SUCCESS_WITH_ERRORS,)),
        (
            "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure",
            False,
            False,
            ResponseStatus.FAILURE,
            (Quirk.FAILURE_WITHOUT_ERRORS,),
        ),
        (
            "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:PartialSuccess",
            True,
            True,
            ResponseStatus.PARTIAL_SUCCESS,
            (),
        ),
    ],
)
def test_inconsistent_status_is_modelled_as_sent(
    status: str, errors: bool, documents: bool, expected_status: ResponseStatus, quirks: tuple[Quirk, ...]
) -> None:
    error_list = (
        '<rs:RegistryErrorList><rs:RegistryError errorCode="XDSMissingDocument" codeContext="gone"'
        ' severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"/></rs:RegistryErrorList>'
    )
    parsed = parse_iti39_response(
        _response(_document() if documents else "", status, error_list if errors else "")
    )
    assert parsed.status is expected_status
    assert len(parsed.errors) == int(errors)
    assert parsed.quirks == quirks


def test_soap_fault_and_unexpected_action_are_values() -> None:
    fault = _envelope(
        "<s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code>"
        '<s:Reason><s:Text xml:lang="en">repository down</s:Text></s:Reason></s:Fault>',
        action="http://www.w3.org/2005/08/addressing/soap/fault",
    )
    parsed = parse_iti39_response(fault)
    assert parsed.status is ResponseStatus.FAILURE
    assert parsed.fault is not None
    assert parsed.fault.code is FaultCode.RECEIVER
    assert parsed.fault.reason == "repository down"
    assert parsed.quirks == (Quirk.SOAP_FAULT,)
    odd = _response(_document()).replace(b"CrossGatewayRetrieveResponse", b"RetrieveDocumentSetResponse")
    assert parse_iti39_response(odd).quirks == (Quirk.UNEXPECTED_ACTION,)


def test_large_inline_document_passes_the_hardened_parser() -> None:
    content = bytes(range(256)) * 60_000  # 15 MB: a text node over libxml2's default 10 MB limit
    parsed = parse_iti39_response(_response(_document(content=base64.b64encode(content).decode())))
    assert parsed.documents[0].content == content


def test_request_quirks() -> None:
    payload = (
        '<RetrieveDocumentSetRequest xmlns="urn:ihe:iti:xds-b:2007"><DocumentRequest>'
        "<HomeCommunityId>1.2.3</HomeCommunityId><RepositoryUniqueId>urn:oid:1.2.4</RepositoryUniqueId>"
        "<DocumentUniqueId>1.2.5</DocumentUniqueId></DocumentRequest><DocumentRequest>"
        "<RepositoryUniqueId>1.2.4</RepositoryUniqueId><DocumentUniqueId>1.2.6</DocumentUniqueId>"
        "</DocumentRequest></RetrieveDocumentSetRequest>"
    )
    parsed = parse_iti39_request(_envelope(payload, "urn:ihe:iti:2007:CrossGatewayRetrieve"))
    first, second = parsed.documents
    assert (first.home_community_id, first.repository_unique_id) == ("1.2.3", "1.2.4")
    assert first.quirks == (Quirk.HOME_COMMUNITY_WITHOUT_URN, Quirk.REPOSITORY_ID_WITH_URN)
    assert second.home_community_id is None
    assert second.quirks == (Quirk.HOME_COMMUNITY_MISSING,)


_REQUEST = '<RetrieveDocumentSetRequest xmlns="urn:ihe:iti:xds-b:2007">{}</RetrieveDocumentSetRequest>'


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (_envelope(_REQUEST.format("")), MissingElementError, "no DocumentRequest"),
        (
            _envelope(
                _REQUEST.format(
                    "<DocumentRequest><RepositoryUniqueId>1.2</RepositoryUniqueId></DocumentRequest>"
                )
            ),
            MissingElementError,
            "no DocumentUniqueId",
        ),
        (
            _envelope('<AdhocQueryRequest xmlns="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"/>'),
            UnexpectedMessageError,
            "RetrieveDocumentSetRequest",
        ),
        (
            _envelope("<s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code></s:Fault>"),
            UnexpectedMessageError,
            "Fault",
        ),
        (
            b'<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body/></Envelope>',
            UnexpectedMessageError,
            "SOAP 1.2",
        ),
        (b"<not-closed>", XmlSyntaxError, "well-formed"),
    ],
)
def test_bad_requests_raise_specific_errors(body: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_iti39_request(body, CONTENT_TYPE)


@pytest.mark.parametrize(
    ("body", "content_type", "error", "message"),
    [
        (
            _envelope('<RetrieveDocumentSetResponse xmlns="urn:ihe:iti:xds-b:2007"/>'),
            CONTENT_TYPE,
            MissingElementError,
            "RegistryResponse",
        ),
        (_response("", status="urn:example:Maybe"), CONTENT_TYPE, InvalidValueError, "status"),
        (
            _envelope('<RetrieveDocumentSetResponse xmlns="urn:example:wrong"/>'),
            CONTENT_TYPE,
            UnexpectedMessageError,
            "XDS.b",
        ),
        (_envelope(""), CONTENT_TYPE, MissingElementError, "Body is empty"),
        (b"<html>busy</html>", "text/html", UnexpectedMessageError, "neither SOAP nor MTOM"),
        (b"--b\r\n\r\n<x/>\r\n", "multipart/related; boundary=b", MtomFormatError, "truncated"),
        (b"<!DOCTYPE x [<!ELEMENT x ANY>]><x/>", CONTENT_TYPE, XmlDtdForbiddenError, "DOCTYPE"),
    ],
)
def test_bad_responses_raise_specific_errors(
    body: bytes, content_type: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        parse_iti39_response(body, content_type)
