"""Responding side: requests as peers send them, the NIST bad-request samples and an injection probe."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from xca import ns
from xca.errors import MissingElementError, UnexpectedMessageError, XmlDtdForbiddenError
from xca.ids import Cx
from xca.iti38 import (
    AvailabilityStatus,
    Code,
    Dtm,
    EntryType,
    FindDocumentsQuery,
    GetDocumentsQuery,
    Quirk,
    ReturnType,
    StoredQueryId,
    parse_iti38_request,
)
from xca.ns import q
from xca.registry import XdsErrorCode
from xca.soap import Action, parse_envelope

PID = "'PAT-0001^^^&2.16.840.1.113883.3.9999.1.1&ISO'"
APPROVED = "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')"
NIST_PATIENT = Cx(id="c4d77e21d0dd487", root="1.3.6.1.4.1.21367.2005.3.7")


def _request(
    slots: list[tuple[str, list[str]]],
    *,
    query_id: str = StoredQueryId.FIND_DOCUMENTS.value,
    home: str | None = None,
    return_type: str | None = "LeafClass",
) -> bytes:
    root = etree.Element(q(ns.QUERY, "AdhocQueryRequest"), nsmap={"query": ns.QUERY, "rim": ns.RIM})
    option = etree.SubElement(root, q(ns.QUERY, "ResponseOption"), returnComposedObjects="true")
    if return_type is not None:
        option.set("returnType", return_type)
    adhoc = etree.SubElement(root, q(ns.RIM, "AdhocQuery"), id=query_id)
    if home is not None:
        adhoc.set("home", home)
    for name, values in slots:
        value_list = etree.SubElement(
            etree.SubElement(adhoc, q(ns.RIM, "Slot"), name=name), q(ns.RIM, "ValueList")
        )
        for value in values:
            etree.SubElement(value_list, q(ns.RIM, "Value")).text = value
    return etree.tostring(root)


def _codes(data: bytes) -> list[str]:
    return [e.error_code for e in parse_iti38_request(data).errors]


# --- shared samples -----------------------------------------------------------------------------------------


def _sample(shared_dir: Path, name: str) -> bytes:
    return (shared_dir / "ihe" / "samples" / name).read_bytes()


def test_nist_find_documents_request(shared_dir: Path) -> None:
    parsed = parse_iti38_request(_sample(shared_dir, "nist__sq-req.xml"))
    assert parsed.errors == ()
    assert parsed.query_id == StoredQueryId.FIND_DOCUMENTS
    assert parsed.request is not None
    assert parsed.request.return_type is ReturnType.LEAF_CLASS
    assert parsed.request.home_community_id is None
    assert parsed.request.query == FindDocumentsQuery(
        patient_id=NIST_PATIENT,
        statuses=(AvailabilityStatus.APPROVED,),
        class_codes=(Code("value", "scheme"),),
    )


def test_nist_soap_cross_gateway_query(shared_dir: Path) -> None:
    envelope = parse_envelope(_sample(shared_dir, "nist__soap-xcq-req.xml"))
    assert envelope.addressing.action == Action.ITI38_REQUEST
    assert envelope.body is not None
    parsed = parse_iti38_request(envelope.body)
    assert parsed.request is not None
    assert isinstance(parsed.request.query, FindDocumentsQuery)
    assert parsed.request.query.patient_id == NIST_PATIENT
    assert parsed.request.query.class_codes == (Code("value", "scheme"),)


@pytest.mark.parametrize(
    ("sample", "code", "parameter"),
    [
        ("nist__sq-req-bad-code.xml", XdsErrorCode.REGISTRY_ERROR, "$XDSDocumentEntryClassCode"),
        ("nist__sq-req-bad-pid-format.xml", XdsErrorCode.REGISTRY_ERROR, "$XDSDocumentEntryPatientId"),
        ("nist__sq-req-bad-stat-format1.xml", XdsErrorCode.REGISTRY_ERROR, "$XDSDocumentEntryStatus"),
        ("nist__sq-req-missing-stat.xml", XdsErrorCode.STORED_QUERY_MISSING_PARAM, "$XDSDocumentEntryStatus"),
    ],
)
def test_nist_bad_requests_give_registry_errors(
    shared_dir: Path, sample: str, code: XdsErrorCode, parameter: str
) -> None:
    parsed = parse_iti38_request(_sample(shared_dir, sample))
    assert parsed.request is None
    assert len(parsed.errors) == 1
    error = parsed.errors[0]
    assert error.known_code is code
    assert error.code_context.startswith(parameter + ":")
    assert "c4d77e21d0dd487" not in error.code_context  # the patient id is never echoed


def test_ipf_injection_looking_patient_id_is_refused(shared_dir: Path) -> None:
    parsed = parse_iti38_request(_sample(shared_dir, "ipf__adhocquery_findDocuments__iti18request.xml"))
    assert parsed.request is None
    assert [e.error_code for e in parsed.errors] == [XdsErrorCode.REGISTRY_ERROR]
    assert (
        parsed.errors[0].code_context == "$XDSDocumentEntryPatientId: unterminated quoted stored query value"
    )
    assert "611" not in parsed.errors[0].code_context
    # The quoted creation time is tolerated and noted; the unquoted one is the normal form.
    assert parsed.quirks == (Quirk.NUMBER_QUOTED,)


def test_injection_that_is_properly_quoted_is_still_not_a_patient_id() -> None:
    value = "'593603^^^&2.16.756.5.33.2.5.1.5.1&ISO''%20and%20611%3d611--%20'"
    parsed = parse_iti38_request(
        _request([("$XDSDocumentEntryPatientId", [value]), ("$XDSDocumentEntryStatus", [APPROVED])])
    )
    assert parsed.request is None
    assert (
        parsed.errors[0].code_context
        == "$XDSDocumentEntryPatientId: patient id is not in the form ID^^^&OID&ISO"
    )


def test_quotes_inside_values_are_inert_data() -> None:
    parsed = parse_iti38_request(
        _request(
            [
                ("$XDSDocumentEntryPatientId", [PID]),
                ("$XDSDocumentEntryStatus", [APPROVED]),
                ("$XDSDocumentEntryAuthorPerson", ["('O''Brien'' OR ''1''=''1','x) OR (1=1')"]),
            ]
        )
    )
    assert parsed.request is not None
    assert isinstance(parsed.request.query, FindDocumentsQuery)
    assert parsed.request.query.author_persons == ("O'Brien' OR '1'='1", "x) OR (1=1")


# --- errors as values ---------------------------------------------------------------------------------------


def test_missing_patient_id_and_status() -> None:
    assert _codes(_request([])) == [XdsErrorCode.STORED_QUERY_MISSING_PARAM] * 2


@pytest.mark.parametrize(
    "slots",
    [
        [("$XDSDocumentEntryPatientId", [PID, PID])],
        [("$XDSDocumentEntryPatientId", [PID]), ("$XDSDocumentEntryPatientId", [PID])],
        [("$XDSDocumentEntryPatientId", [f"({PID},{PID})"])],
    ],
)
def test_multi_valued_patient_id_is_param_number(slots: list[tuple[str, list[str]]]) -> None:
    data = _request([*slots, ("$XDSDocumentEntryStatus", [APPROVED])])
    assert _codes(data) == [XdsErrorCode.STORED_QUERY_PARAM_NUMBER]


def test_repeated_time_is_param_number() -> None:
    data = _request(
        [
            ("$XDSDocumentEntryPatientId", [PID]),
            ("$XDSDocumentEntryStatus", [APPROVED]),
            ("$XDSDocumentEntryCreationTimeFrom", ["2020", "2021"]),
        ]
    )
    assert _codes(data) == [XdsErrorCode.STORED_QUERY_PARAM_NUMBER]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("$XDSDocumentEntryCreationTimeFrom", "19849711"),
        ("$XDSDocumentEntryServiceStopTimeTo", "2020-01-01"),
        ("$XDSDocumentEntryTypeCode", "('a^b^c')"),
        ("$XDSDocumentEntryFormatCode", "(urn:x^^y)"),
        ("$XDSDocumentEntryEventCodeList", "('e1^^s'"),
        ("$XDSDocumentEntryPatientId", "'PAT^^^&not.an.oid&ISO'"),
        ("$XDSDocumentEntryPatientId", "'PAT^^^&1.2.3'"),
    ],
)
def test_malformed_values_are_registry_errors(name: str, value: str) -> None:
    slots = {"$XDSDocumentEntryPatientId": [PID], "$XDSDocumentEntryStatus": [APPROVED], name: [value]}
    assert _codes(_request(list(slots.items()))) == [XdsErrorCode.REGISTRY_ERROR]


def test_unknown_stored_query() -> None:
    parsed = parse_iti38_request(_request([], query_id="urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9"))
    assert parsed.query_id == "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9"
    assert [e.error_code for e in parsed.errors] == [XdsErrorCode.UNKNOWN_STORED_QUERY]


@pytest.mark.parametrize("home", [None, "", "  "])
def test_get_documents_needs_home(home: str | None) -> None:
    data = _request(
        [("$XDSDocumentEntryUniqueId", ["('1.2.3')"])], query_id=StoredQueryId.GET_DOCUMENTS.value, home=home
    )
    assert _codes(data) == [XdsErrorCode.MISSING_HOME_COMMUNITY_ID]


def test_get_documents_with_both_id_kinds_is_param_number() -> None:
    data = _request(
        [("$XDSDocumentEntryUniqueId", ["('1.2.3')"]), ("$XDSDocumentEntryEntryUUID", ["('urn:uuid:x')"])],
        query_id=StoredQueryId.GET_DOCUMENTS.value,
        home="urn:oid:1.2.3",
    )
    assert _codes(data) == [XdsErrorCode.STORED_QUERY_PARAM_NUMBER]


def test_get_documents_without_ids_is_missing_param() -> None:
    data = _request([], query_id=StoredQueryId.GET_DOCUMENTS.value, home="urn:oid:1.2.3")
    assert _codes(data) == [XdsErrorCode.STORED_QUERY_MISSING_PARAM]


def test_home_that_is_not_an_oid_is_unknown_community() -> None:
    data = _request(
        [("$XDSDocumentEntryPatientId", [PID]), ("$XDSDocumentEntryStatus", [APPROVED])],
        home="urn:oid:1.2.3'--",
    )
    assert _codes(data) == [XdsErrorCode.UNKNOWN_COMMUNITY]


@pytest.mark.parametrize("return_type", [None, "RegistryObject", "LeafClassWithRepositoryItem"])
def test_unsupported_return_type(return_type: str | None) -> None:
    data = _request(
        [("$XDSDocumentEntryPatientId", [PID]), ("$XDSDocumentEntryStatus", [APPROVED])],
        return_type=return_type,
    )
    assert _codes(data) == [XdsErrorCode.REGISTRY_ERROR]


# --- tolerance ----------------------------------------------------------------------------------------------


def test_tolerated_oddities_are_recorded() -> None:
    parsed = parse_iti38_request(
        _request(
            [
                ("$XDSDocumentEntryPatientId", [f"({PID})"]),
                (
                    "$XDSDocumentEntryStatus",
                    ["('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved','Other')"],
                ),
                ("$XDSDocumentEntryCreationTimeFrom", ["'20200101'"]),
                ("$XDSDocumentEntryType", ["('URN:UUID:34268E47-FDF5-41A6-BA33-82133C465248','urn:uuid:x')"]),
                ("$XDSDocumentEntryClassCode", ["'a^^b'", "('c^^d')"]),
                ("$SomethingElse", ["'x'"]),
            ],
            query_id=StoredQueryId.FIND_DOCUMENTS.value.upper(),
            home="2.16.840.1.113883.3.9999.1",
        )
    )
    assert parsed.errors == ()
    assert parsed.request is not None
    assert parsed.request.home_community_id == "2.16.840.1.113883.3.9999.1"
    query = parsed.request.query
    assert isinstance(query, FindDocumentsQuery)
    assert query.statuses == (AvailabilityStatus.APPROVED,)
    assert query.creation_time_from == Dtm.parse("20200101")
    assert query.entry_types == (EntryType.ON_DEMAND,)
    assert query.class_codes == (Code("a", "b"), Code("c", "d"))
    assert set(parsed.quirks) == {
        Quirk.HOME_WITHOUT_URN_OID,
        Quirk.SINGLE_VALUE_AS_LIST,
        Quirk.UNKNOWN_STATUS_VALUE,
        Quirk.NUMBER_QUOTED,
        Quirk.UNKNOWN_ENTRY_TYPE_VALUE,
        Quirk.UNKNOWN_PARAMETER,
    }


def test_get_documents_values_kept_as_sent() -> None:
    parsed = parse_iti38_request(
        _request(
            [("$XDSDocumentEntryUniqueId", ["('1.2.3^ext','it''s')"])],
            query_id=StoredQueryId.GET_DOCUMENTS.value,
            home="urn:oid:1.2.3",
        )
    )
    assert parsed.request is not None
    assert parsed.request.query == GetDocumentsQuery(unique_ids=("1.2.3^ext", "it's"))


# --- not an ITI-38 request at all ---------------------------------------------------------------------------


def test_wrong_root_raises() -> None:
    with pytest.raises(UnexpectedMessageError):
        parse_iti38_request(b"<AdhocQueryRequest/>")


def test_missing_adhoc_query_raises() -> None:
    data = (
        f'<q:AdhocQueryRequest xmlns:q="{ns.QUERY}">'
        '<q:ResponseOption returnType="LeafClass"/></q:AdhocQueryRequest>'
    )
    with pytest.raises(MissingElementError, match="AdhocQuery"):
        parse_iti38_request(data.encode())


def test_missing_response_option_raises() -> None:
    data = (
        f'<q:AdhocQueryRequest xmlns:q="{ns.QUERY}" xmlns:r="{ns.RIM}">'
        '<r:AdhocQuery id="x"/></q:AdhocQueryRequest>'
    )
    with pytest.raises(MissingElementError, match="ResponseOption"):
        parse_iti38_request(data.encode())


def test_adhoc_query_without_id_raises() -> None:
    data = (
        f'<q:AdhocQueryRequest xmlns:q="{ns.QUERY}" xmlns:r="{ns.RIM}">'
        '<q:ResponseOption returnType="LeafClass"/><r:AdhocQuery/></q:AdhocQueryRequest>'
    )
    with pytest.raises(MissingElementError, match="id"):
        parse_iti38_request(data.encode())


def test_bytes_go_through_the_hardened_parser() -> None:
    with pytest.raises(XmlDtdForbiddenError):
        parse_iti38_request(b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
