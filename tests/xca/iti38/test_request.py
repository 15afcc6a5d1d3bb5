"""Initiating side builds ITI-38 requests; the responding side parses them back into equal models."""

from __future__ import annotations

import pytest
from lxml import etree

from tests.xca.iti38.factories import HOME, PATIENT, full_find_documents
from tests.xca.schemas import assert_valid
from xca import ns
from xca.errors import InvalidValueError
from xca.ids import Cx
from xca.iti38 import (
    Code,
    FindDocumentsQuery,
    GetDocumentsQuery,
    Iti38Request,
    QueryParam,
    ReturnType,
    StoredQueryId,
    build_iti38_request,
    parse_iti38_request,
)
from xca.ns import q
from xca.soap import Action, Addressing, build_envelope, parse_envelope, to_bytes

UUIDS = ("urn:uuid:0f1e2d3c-4b5a-4697-8a8b-000000000001", "urn:uuid:0f1e2d3c-4b5a-4697-8a8b-000000000002")

REQUESTS = {
    "find-minimal": Iti38Request(FindDocumentsQuery(patient_id=PATIENT)),
    "find-all-slots": Iti38Request(full_find_documents(), home_community_id=HOME),
    "find-objectref": Iti38Request(FindDocumentsQuery(patient_id=PATIENT), return_type=ReturnType.OBJECT_REF),
    "get-by-uuid": Iti38Request(GetDocumentsQuery(entry_uuids=UUIDS), home_community_id=HOME),
    "get-by-unique-id": Iti38Request(
        GetDocumentsQuery(unique_ids=("1.2.3.4.5", "1.2.3.4.6")), home_community_id=HOME
    ),
}


def _slots(element: etree._Element) -> dict[str, list[str]]:
    adhoc = element.find(q(ns.RIM, "AdhocQuery"))
    assert adhoc is not None
    return {
        slot.get("name", ""): [v.text or "" for v in slot.iter(q(ns.RIM, "Value"))]
        for slot in adhoc.iter(q(ns.RIM, "Slot"))
    }


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_request_validates_against_xds_schema(name: str) -> None:
    assert_valid(build_iti38_request(REQUESTS[name]), "xds")


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_request_round_trip(name: str) -> None:
    data = to_bytes(build_iti38_request(REQUESTS[name]))
    parsed = parse_iti38_request(data)
    assert parsed.errors == ()
    assert parsed.quirks == ()
    assert parsed.request == REQUESTS[name]


def test_find_documents_wire_form() -> None:
    element = build_iti38_request(REQUESTS["find-all-slots"])
    option = element.find(q(ns.QUERY, "ResponseOption"))
    assert option is not None
    assert dict(option.attrib) == {"returnType": "LeafClass", "returnComposedObjects": "true"}
    adhoc = element.find(q(ns.RIM, "AdhocQuery"))
    assert adhoc is not None
    assert adhoc.get("id") == StoredQueryId.FIND_DOCUMENTS.value
    assert adhoc.get("home") == f"urn:oid:{HOME}"
    slots = _slots(element)
    assert slots[QueryParam.PATIENT_ID] == ["'PAT-0001^^^&2.16.840.1.113883.3.9999.1.1&ISO'"]
    assert slots[QueryParam.STATUS] == [
        "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved',"
        "'urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated')"
    ]
    assert slots[QueryParam.CLASS_CODE] == [
        "('11369-6^^2.16.840.1.113883.6.1','34133-9^^2.16.840.1.113883.6.1')"
    ]
    # AND/OR parameter: one Value per OR group; the Values are AND-ed.
    assert slots[QueryParam.EVENT_CODE_LIST] == ["('E1^^1.2.3.4','E2^^1.2.3.4')", "('E3^^1.2.3.4')"]
    assert slots[QueryParam.AUTHOR_PERSON] == ["('%Welby%','O''Brien^Pat')"]
    assert slots[QueryParam.CREATION_TIME_FROM] == ["20200101"]
    assert slots[QueryParam.CREATION_TIME_TO] == ["20241231235959"]
    assert slots[QueryParam.SERVICE_START_TIME_FROM] == ["2019"]
    assert slots[QueryParam.ENTRY_TYPE] == [
        "('urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1','urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248')"
    ]
    assert len(slots) == 17


def test_get_documents_wire_form() -> None:
    element = build_iti38_request(REQUESTS["get-by-uuid"])
    adhoc = element.find(q(ns.RIM, "AdhocQuery"))
    assert adhoc is not None
    assert adhoc.get("id") == StoredQueryId.GET_DOCUMENTS.value
    assert _slots(element) == {QueryParam.ENTRY_UUID: [f"('{UUIDS[0]}','{UUIDS[1]}')"]}


def test_request_in_soap_envelope_validates_and_unwraps() -> None:
    body = build_iti38_request(REQUESTS["find-all-slots"])
    envelope = build_envelope(body, Addressing.request(Action.ITI38_REQUEST, to="https://gw.example.org/xca"))
    assert_valid(envelope, "xds")
    unwrapped = parse_envelope(to_bytes(envelope))
    assert unwrapped.addressing.action == Action.ITI38_REQUEST
    assert unwrapped.body is not None
    assert parse_iti38_request(unwrapped.body).request == REQUESTS["find-all-slots"]


def test_many_codes_spread_over_several_values() -> None:
    codes = tuple(Code(f"code-{i:02d}", "2.16.840.1.113883.6.1") for i in range(20))
    request = Iti38Request(FindDocumentsQuery(patient_id=PATIENT, class_codes=codes))
    element = build_iti38_request(request)
    values = _slots(element)[QueryParam.CLASS_CODE]
    assert len(values) > 1
    assert all(len(v) <= 256 for v in values)
    assert_valid(element, "xds")
    assert parse_iti38_request(to_bytes(element)).request == request


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (Iti38Request(GetDocumentsQuery(entry_uuids=UUIDS)), "homeCommunityId"),
        (
            Iti38Request(GetDocumentsQuery(entry_uuids=("urn:uuid:NOT-A-UUID",)), home_community_id=HOME),
            "UUID",
        ),
        (
            Iti38Request(GetDocumentsQuery(entry_uuids=(UUIDS[0].upper(),)), home_community_id=HOME),
            "lower-case",
        ),
        (Iti38Request(GetDocumentsQuery(unique_ids=(" 1.2.3",)), home_community_id=HOME), "unique ids"),
        (Iti38Request(FindDocumentsQuery(patient_id=PATIENT), home_community_id="urn:oid:1.2.3"), "OID"),
        (Iti38Request(FindDocumentsQuery(patient_id=Cx("A'B", "1.2.3"))), "delimiter"),
        (Iti38Request(FindDocumentsQuery(patient_id=Cx("A", "not-an-oid"))), "OID"),
        (Iti38Request(FindDocumentsQuery(patient_id=PATIENT, class_codes=(Code("a^b", "1.2"),))), "'\\^'"),
        (Iti38Request(FindDocumentsQuery(patient_id=PATIENT, class_codes=(Code("a", ""),))), "scheme"),
        (
            Iti38Request(
                FindDocumentsQuery(
                    patient_id=PATIENT, event_codes=(tuple(Code(f"c{i}", "1.2.3.4.5") for i in range(30)),)
                )
            ),
            "256",
        ),
    ],
)
def test_bad_requests_raise(request_: Iti38Request, message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        build_iti38_request(request_)


def test_invalid_models_raise() -> None:
    with pytest.raises(InvalidValueError, match="Status"):
        FindDocumentsQuery(patient_id=PATIENT, statuses=())
    with pytest.raises(InvalidValueError, match="empty"):
        FindDocumentsQuery(patient_id=PATIENT, event_codes=((),))
    with pytest.raises(InvalidValueError, match="not both or neither"):
        GetDocumentsQuery()
    with pytest.raises(InvalidValueError, match="not both or neither"):
        GetDocumentsQuery(entry_uuids=UUIDS, unique_ids=("1.2",))
