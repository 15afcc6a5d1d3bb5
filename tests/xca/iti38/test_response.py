"""ITI-38 responses: built by the responding side, read tolerantly by the initiating side."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from tests.xca.iti38.factories import HOME, PATIENT, full_entry
from tests.xca.schemas import assert_valid
from xca import ns
from xca.errors import InvalidValueError, MissingElementError, UnexpectedMessageError
from xca.ids import Cx
from xca.iti38 import (
    AvailabilityStatus,
    ClassificationScheme,
    Code,
    DocumentEntry,
    Dtm,
    EntryType,
    ExternalIdentifierScheme,
    ObjectRef,
    Precision,
    QueryResponse,
    Quirk,
    build_iti38_response,
    parse_iti38_response,
)
from xca.iti38.metadata_parse import parse_extrinsic_object
from xca.ns import q
from xca.registry import ErrorSeverity, RegistryError, ResponseStatus, XdsErrorCode
from xca.soap import Action, Addressing, build_envelope, parse_envelope, to_bytes

WARNING = RegistryError(
    XdsErrorCode.UNAVAILABLE_COMMUNITY.value,
    "One of the communities behind this gateway did not answer",
    severity=ErrorSeverity.WARNING,
    location=f"urn:oid:{HOME}",
)

RESPONSES = {
    "success-two-entries": QueryResponse(ResponseStatus.SUCCESS, documents=(full_entry(1), full_entry(2))),
    "success-on-demand": QueryResponse(
        ResponseStatus.SUCCESS, documents=(full_entry(3, entry_type=EntryType.ON_DEMAND),)
    ),
    "partial-success": QueryResponse(
        ResponseStatus.PARTIAL_SUCCESS,
        documents=(full_entry(1),),
        errors=(WARNING, RegistryError(XdsErrorCode.REGISTRY_BUSY.value, "busy", location=f"urn:oid:{HOME}")),
    ),
    "failure": QueryResponse(
        ResponseStatus.FAILURE,
        errors=(RegistryError(XdsErrorCode.UNKNOWN_PATIENT_ID.value, "Patient is not known here"),),
    ),
    "failure-without-errors": QueryResponse(ResponseStatus.FAILURE),
    "success-with-errors": QueryResponse(
        ResponseStatus.SUCCESS, documents=(full_entry(4),), errors=(WARNING,)
    ),
    "object-refs": QueryResponse(
        ResponseStatus.SUCCESS,
        object_refs=(
            ObjectRef("urn:uuid:0f1e2d3c-4b5a-4697-8a8b-000000000001", HOME),
            ObjectRef("urn:uuid:0f1e2d3c-4b5a-4697-8a8b-000000000002", HOME),
        ),
    ),
}

# What a sloppy peer sends: only the id, the patient, the uniqueId and the community. We never build this.
MINIMAL = DocumentEntry(
    entry_uuid="urn:uuid:0f1e2d3c-4b5a-4697-8a8b-00000000000a",
    unique_id="1.2.3.4",
    patient_id=PATIENT,
    home_community_id=HOME,
)


def _minimal_response() -> etree._Element:
    """A response holding :data:`MINIMAL` on the wire: a full entry built, then stripped like a peer would."""
    full = dataclasses.replace(
        full_entry(), entry_uuid=MINIMAL.entry_uuid, unique_id=MINIMAL.unique_id, mime_type=MINIMAL.mime_type
    )
    root = build_iti38_response(QueryResponse(ResponseStatus.SUCCESS, documents=(full,)))
    entry = root.find(f"{q(ns.RIM, 'RegistryObjectList')}/{q(ns.RIM, 'ExtrinsicObject')}")
    assert entry is not None
    for child in list(entry):
        if child.tag != q(ns.RIM, "ExternalIdentifier"):
            entry.remove(child)
    return root


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_response_validates_against_xds_schema(name: str) -> None:
    assert_valid(build_iti38_response(RESPONSES[name]), "xds")


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_response_round_trip(name: str) -> None:
    parsed = parse_iti38_response(to_bytes(build_iti38_response(RESPONSES[name])))
    assert parsed == RESPONSES[name]


def test_response_in_soap_envelope() -> None:
    body = build_iti38_response(RESPONSES["partial-success"])
    envelope = build_envelope(body, Addressing.response(Action.ITI38_RESPONSE, relates_to="urn:uuid:1"))
    assert_valid(envelope, "xds")
    unwrapped = parse_envelope(to_bytes(envelope))
    assert unwrapped.body is not None
    assert parse_iti38_response(unwrapped.body) == RESPONSES["partial-success"]


def test_entry_wire_form() -> None:
    element = build_iti38_response(RESPONSES["success-two-entries"])
    entries = element.findall(f"{q(ns.RIM, 'RegistryObjectList')}/{q(ns.RIM, 'ExtrinsicObject')}")
    assert len(entries) == 2
    entry = entries[0]
    assert entry.get("home") == f"urn:oid:{HOME}"
    assert entry.get("objectType") == EntryType.STABLE.value
    assert entry.get("status") == AvailabilityStatus.APPROVED.value
    schemes = [c.get("classificationScheme") for c in entry.findall(q(ns.RIM, "Classification"))]
    assert schemes.count(ClassificationScheme.AUTHOR.value) == 2
    assert schemes.count(ClassificationScheme.EVENT_CODE_LIST.value) == 2
    identifiers = {
        e.get("identificationScheme"): e.get("value") for e in entry.findall(q(ns.RIM, "ExternalIdentifier"))
    }
    assert identifiers == {
        ExternalIdentifierScheme.PATIENT_ID.value: "PAT-0001^^^&2.16.840.1.113883.3.9999.1.1&ISO",
        ExternalIdentifierScheme.UNIQUE_ID.value: "2.16.840.1.113883.3.9999.1.3.1",
    }
    # Part ids are derived from the entryUUID: building twice gives the same bytes.
    assert to_bytes(build_iti38_response(RESPONSES["success-two-entries"])) == to_bytes(element)


def test_error_list_precedes_object_list() -> None:
    element = build_iti38_response(RESPONSES["partial-success"])
    assert [etree.QName(child).localname for child in element] == ["RegistryErrorList", "RegistryObjectList"]
    assert element.get("status") == "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"


# --- shared NIST samples ------------------------------------------------------------------------------------


def _sample_body(shared_dir: Path, name: str) -> etree._Element:
    envelope = parse_envelope((shared_dir / "ihe" / "samples" / name).read_bytes())
    assert envelope.addressing.action == Action.ITI38_RESPONSE
    assert envelope.body is not None
    return envelope.body


def test_nist_success_response(shared_dir: Path) -> None:
    response = parse_iti38_response(_sample_body(shared_dir, "nist__soap-xcq-resp.xml"))
    assert response.status is ResponseStatus.SUCCESS
    assert response.errors == ()
    assert [d.entry_uuid for d in response.documents] == [
        "urn:uuid:974330cc-26ff-4ef8-aca5-f71efc3f1fb0",
        "urn:uuid:0bb95d7b-14cb-4da5-896f-af3be8707c03",
    ]
    assert [d.unique_id for d in response.documents] == ["1.42.20100312104638.15", "1.42.20100312104638.26"]
    first = response.documents[0]
    assert first.home_community_id == "2.3.4"
    assert first.repository_unique_id == "1.19.6.24.109.42.1"
    assert first.patient_id == Cx("c4d77e21d0dd487", "1.3.6.1.4.1.21367.2005.3.7")
    assert (first.mime_type, first.size, first.language_code, first.title) == (
        "text/xml",
        36,
        "en-us",
        "DocA",
    )
    assert first.hash == "e543712c0e10501972de13a5bfcbe826c49feb75"
    assert first.creation_time == Dtm.parse("20061224")
    assert first.creation_time is not None
    assert first.creation_time.precision is Precision.DAY
    assert first.service_start_time == Dtm.parse("200612230800")
    assert first.service_stop_time == Dtm.parse("200612230900")
    assert first.entry_type is EntryType.STABLE
    assert first.availability_status is AvailabilityStatus.APPROVED
    assert first.class_code == Code(
        "History and Physical", "Connect-a-thon classCodes", "History and Physical"
    )
    assert first.type_code == Code("34108-1", "LOINC", "Outpatient Evaluation And Management")
    assert first.format_code == Code("CDAR2/IHE 1.0", "Connect-a-thon formatCodes", "CDAR2/IHE 1.0")
    assert first.confidentiality_codes == (
        Code("1.3.6.1.4.1.21367.2006.7.102", "Connect-a-thon confidentialityCodes", "Clinical-Staff"),
    )
    assert [c.code for c in first.event_codes] == ["T-D4909", "T-62002"]
    assert first.healthcare_facility_type_code == Code(
        "Outpatient", "Connect-a-thon healthcareFacilityTypeCodes 2", "Outpatient"
    )
    assert first.practice_setting_code == Code("Dialysis", "Connect-a-thon practiceSettingCodes", "Dialysis")
    assert [a.person for a in first.authors] == ["^Smitty^Gerald^^^", "^Dopplemeyer^Sherry^^^"]
    assert first.authors[0].institutions == ("Cleveland Clinic", "Parma Community")
    assert first.authors[1].roles == ("Primary Surgon",)
    assert first.authors[1].specialties == ("Orthopedic",)
    # sourcePatientId "...&3.4.5&ISO": 3.4.5 is no OID (first arc must be 0-2): dropped and noted.
    assert first.source_patient_id is None
    assert first.quirks == (Quirk.PATIENT_ID_NOT_CX, Quirk.MISSING_ENTRY_METADATA)
    assert response.documents[1].title == "DocF"


def test_nist_failure_response_with_documents(shared_dir: Path) -> None:
    response = parse_iti38_response(_sample_body(shared_dir, "nist__soap-xcq-resp-error.xml"))
    assert response.status is ResponseStatus.FAILURE
    assert len(response.documents) == 2  # a Failure that still carries entries: kept as sent
    assert response.errors == (RegistryError("MyBigError", "My Prog", ErrorSeverity.ERROR, "urn:oid:1.2.3"),)
    assert response.errors[0].known_code is None


def test_registry_response_success_with_error(shared_dir: Path) -> None:
    response = parse_iti38_response(
        (shared_dir / "ihe" / "samples" / "nist__regresp-suc-err.xml").read_bytes()
    )
    assert response.status is ResponseStatus.SUCCESS
    assert [e.known_code for e in response.errors] == [XdsErrorCode.UNKNOWN_PATIENT_ID]
    assert response.documents == ()
    assert response.quirks == (Quirk.REGISTRY_RESPONSE_ROOT,)


def test_registry_response_failure_without_errors(shared_dir: Path) -> None:
    response = parse_iti38_response(
        (shared_dir / "ihe" / "samples" / "nist__regresp-fail-noerr.xml").read_bytes()
    )
    assert response == QueryResponse(ResponseStatus.FAILURE, quirks=(Quirk.REGISTRY_RESPONSE_ROOT,))


# --- tolerance of real-world quirks -------------------------------------------------------------------------


def test_minimal_entry_from_a_peer_is_read_with_a_quirk() -> None:
    response = parse_iti38_response(to_bytes(_minimal_response()))
    assert response == QueryResponse(
        ResponseStatus.SUCCESS,
        documents=(dataclasses.replace(MINIMAL, quirks=(Quirk.MISSING_ENTRY_METADATA,)),),
    )


def _quirky(**attributes: str) -> tuple[etree._Element, etree._Element]:
    """A minimal response and its entry, with ``attributes`` overwritten on the entry."""
    element = _minimal_response()
    entry = element.find(f"{q(ns.RIM, 'RegistryObjectList')}/{q(ns.RIM, 'ExtrinsicObject')}")
    assert entry is not None
    for key, value in attributes.items():
        entry.set(key, value)
    return element, entry


def _add_slot(entry: etree._Element, name: str, value: str) -> None:
    slot = etree.Element(q(ns.RIM, "Slot"), name=name)
    etree.SubElement(etree.SubElement(slot, q(ns.RIM, "ValueList")), q(ns.RIM, "Value")).text = value
    entry.insert(0, slot)


def test_quirks_are_repaired_and_recorded() -> None:
    root, entry = _quirky(
        id="URN:UUID:0F1E2D3C-4B5A-4697-8A8B-00000000000A",
        home="2.16.840.1.113883.3.9999.1}",
        status="Approved",
        objectType="urn:uuid:unknown",
    )
    _add_slot(entry, "repositoryUniqueId", "urn:oid:1.2.3.4")
    _add_slot(entry, "creationTime", "19849711")
    _add_slot(entry, "serviceStartTime", "20200101120000+0100")
    _add_slot(entry, "size", "12kB")
    response = parse_iti38_response(root)
    document = response.documents[0]
    assert document.entry_uuid == "urn:uuid:0f1e2d3c-4b5a-4697-8a8b-00000000000a"
    assert document.home_community_id == HOME
    assert document.repository_unique_id == "1.2.3.4"
    assert document.availability_status is AvailabilityStatus.APPROVED
    assert document.entry_type is EntryType.STABLE
    assert document.creation_time is None
    assert document.service_start_time == Dtm.parse("20200101110000")
    assert document.size is None
    assert set(document.quirks) == {
        Quirk.UUID_NOT_CANONICAL,
        Quirk.HOME_WITHOUT_URN_OID,
        Quirk.OID_REPAIRED,
        Quirk.UNKNOWN_OBJECT_TYPE,
        Quirk.REPOSITORY_ID_WITH_URN_OID,
        Quirk.IMPOSSIBLE_DATE,
        Quirk.DATE_WITH_ZONE_OR_FRACTION,
        Quirk.SIZE_NOT_INTEGER,
        Quirk.MISSING_ENTRY_METADATA,
    }


def test_unusable_metadata_is_dropped_with_a_quirk_not_raised() -> None:
    root, entry = _quirky()
    _add_slot(entry, "size", "9" * 5000)
    _add_slot(entry, "repositoryUniqueId", "REPO-A")
    classification = etree.SubElement(
        entry,
        q(ns.RIM, "Classification"),
        classificationScheme=ClassificationScheme.CLASS_CODE.value,
        classifiedObject=entry.get("id", ""),
        id="urn:uuid:0f1e2d3c-4b5a-4697-8a8b-0000000000c1",
    )
    classification.set("nodeRepresentation", "34133-9")  # no codingScheme slot
    entry.addnext(
        etree.fromstring('<ExtrinsicObject xmlns="urn:oasis:names:tc:ebxml-regrep:rim:xsd:2.1" id="x"/>')
    )
    response = parse_iti38_response(etree.tostring(root))
    (document,) = response.documents
    assert (document.size, document.class_code) == (None, None)
    assert document.repository_unique_id == "REPO-A"
    assert set(document.quirks) == {
        Quirk.SIZE_NOT_INTEGER,
        Quirk.REPOSITORY_ID_NOT_AN_OID,
        Quirk.CODE_INCOMPLETE,
        Quirk.MISSING_ENTRY_METADATA,
    }
    assert response.quirks == (Quirk.OBJECT_IN_OTHER_NAMESPACE,)


def test_quirks_carry_no_values_from_the_message() -> None:
    root, _ = _quirky(home="not-an-oid-SECRET")
    response = parse_iti38_response(root)
    document = response.documents[0]
    assert document.home_community_id is None
    assert Quirk.HOME_NOT_AN_OID in document.quirks
    assert Quirk.MISSING_ENTRY_METADATA in document.quirks
    assert all("SECRET" not in quirk.value for quirk in document.quirks)


def test_partial_success_under_ebrs_prefix_and_lowercase_object_ref() -> None:
    data = (
        f'<q:AdhocQueryResponse xmlns:q="{ns.QUERY}" xmlns:r="{ns.RIM}"'
        ' status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:PartialSuccess">'
        '<r:RegistryObjectList><r:ObjectRef id="urn:uuid:0F1E2D3C-4B5A-4697-8A8B-000000000001" home="1.2.3"/>'
        "<r:Association id='a' associationType='x' sourceObject='s' targetObject='t'/>"
        "</r:RegistryObjectList></q:AdhocQueryResponse>"
    )
    response = parse_iti38_response(data.encode())
    assert response.status is ResponseStatus.PARTIAL_SUCCESS
    assert response.object_refs == (ObjectRef("urn:uuid:0f1e2d3c-4b5a-4697-8a8b-000000000001", "1.2.3"),)
    assert set(response.quirks) == {Quirk.UUID_NOT_CANONICAL, Quirk.HOME_WITHOUT_URN_OID}


# --- bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"home_community_id": None}, "homeCommunityId"),
        ({"home_community_id": ""}, "homeCommunityId"),
        ({"home_community_id": "urn:oid:1.2.3"}, "OID"),
        ({"entry_uuid": "Document01"}, "urn:uuid:"),
        ({"patient_id": None}, "patientId"),
        ({"unique_id": ""}, "uniqueId"),
        ({"size": -1}, "negative"),
        ({"repository_unique_id": "urn:oid:1.2.3"}, "repositoryUniqueId"),
        ({"title": "x" * 1025}, "1024"),
        ({"class_code": Code("", "1.2.3")}, "code"),
        ({"authors": (dataclasses.replace(full_entry().authors[0], roles=("r" * 300,)),)}, "256"),
    ],
)
def test_bad_entries_raise(changes: dict[str, object], message: str) -> None:
    entry = dataclasses.replace(full_entry(), **changes)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match=message):
        build_iti38_response(QueryResponse(ResponseStatus.SUCCESS, documents=(entry,)))


REQUIRED: dict[str, dict[str, object]] = {
    "classCode": {"class_code": None},
    "confidentialityCode": {"confidentiality_codes": ()},
    "creationTime": {"creation_time": None},
    "formatCode": {"format_code": None},
    "healthcareFacilityTypeCode": {"healthcare_facility_type_code": None},
    "homeCommunityId": {"home_community_id": None},
    "languageCode": {"language_code": None},
    "mimeType": {"mime_type": ""},
    "patientId": {"patient_id": None},
    "practiceSettingCode": {"practice_setting_code": None},
    "repositoryUniqueId": {"repository_unique_id": None},
    "sourcePatientId": {"source_patient_id": None},
    "typeCode": {"type_code": None},
    "uniqueId": {"unique_id": ""},
    "hash": {"hash": None},
    "size": {"size": None},
}


@pytest.mark.parametrize(("attribute", "changes"), REQUIRED.items(), ids=REQUIRED.keys())
def test_entry_without_a_required_attribute_is_refused_by_name(
    attribute: str, changes: dict[str, object]
) -> None:
    entry = dataclasses.replace(full_entry(), **changes)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match=f"lacks {attribute}$") as caught:
        build_iti38_response(QueryResponse(ResponseStatus.SUCCESS, documents=(entry,)))
    assert caught.value.detail == {"attributes": [attribute]}


def test_on_demand_entries_need_no_hash_or_size_and_carry_none() -> None:
    on_demand = full_entry(3, entry_type=EntryType.ON_DEMAND)
    assert (on_demand.hash, on_demand.size) == (None, None)
    build_iti38_response(QueryResponse(ResponseStatus.SUCCESS, documents=(on_demand,)))
    with_hash = dataclasses.replace(on_demand, hash="da39a3ee5e6b4b0d3255bfef95601890afd80709")
    for entry, name in ((with_hash, "hash"), (dataclasses.replace(on_demand, size=5), "size")):
        with pytest.raises(InvalidValueError, match=f"on-demand DocumentEntry carries no {name}"):
            build_iti38_response(QueryResponse(ResponseStatus.SUCCESS, documents=(entry,)))


def test_several_missing_attributes_are_all_named() -> None:
    entry = dataclasses.replace(full_entry(), class_code=None, type_code=None, hash=None)
    with pytest.raises(InvalidValueError, match="lacks classCode, typeCode, hash"):
        build_iti38_response(QueryResponse(ResponseStatus.SUCCESS, documents=(entry,)))


def test_bad_object_ref_raises() -> None:
    with pytest.raises(InvalidValueError):
        build_iti38_response(QueryResponse(ResponseStatus.SUCCESS, object_refs=(ObjectRef("urn:uuid:bad"),)))


def test_wrong_root_raises() -> None:
    with pytest.raises(UnexpectedMessageError):
        parse_iti38_response(f'<q:AdhocQueryRequest xmlns:q="{ns.QUERY}"/>'.encode())


def test_missing_status_raises() -> None:
    with pytest.raises(InvalidValueError, match="status"):
        parse_iti38_response(f'<q:AdhocQueryResponse xmlns:q="{ns.QUERY}"/>'.encode())


def test_extrinsic_object_without_id_is_skipped_not_raised() -> None:
    data = (
        f'<q:AdhocQueryResponse xmlns:q="{ns.QUERY}" xmlns:r="{ns.RIM}" status="Success">'
        "<r:RegistryObjectList><r:ExtrinsicObject/></r:RegistryObjectList></q:AdhocQueryResponse>"
    )
    response = parse_iti38_response(data.encode())
    assert response.documents == ()
    assert response.quirks == (Quirk.ENTRY_WITHOUT_ID_SKIPPED,)


def test_parsing_one_entry_alone_still_refuses_one_without_id() -> None:
    with pytest.raises(MissingElementError, match="id"):
        parse_extrinsic_object(etree.Element(q(ns.RIM, "ExtrinsicObject")))


def _spoil_id(entry: etree._Element) -> None:
    del entry.attrib["id"]


def _spoil_unique_id(entry: etree._Element) -> None:
    for identifier in entry.findall(q(ns.RIM, "ExternalIdentifier")):
        if identifier.get("identificationScheme") == ExternalIdentifierScheme.UNIQUE_ID.value:
            entry.remove(identifier)


def _blank_unique_id(entry: etree._Element) -> None:
    for identifier in entry.findall(q(ns.RIM, "ExternalIdentifier")):
        if identifier.get("identificationScheme") == ExternalIdentifierScheme.UNIQUE_ID.value:
            identifier.set("value", "  ")


@pytest.mark.parametrize(
    ("spoil", "quirk"),
    [
        (_spoil_id, Quirk.ENTRY_WITHOUT_ID_SKIPPED),
        (_spoil_unique_id, Quirk.ENTRY_WITHOUT_UNIQUE_ID_SKIPPED),
        (_blank_unique_id, Quirk.ENTRY_WITHOUT_UNIQUE_ID_SKIPPED),
    ],
)
def test_one_bad_entry_among_good_ones_is_skipped(
    spoil: Callable[[etree._Element], None], quirk: Quirk
) -> None:
    sent = QueryResponse(ResponseStatus.SUCCESS, documents=(full_entry(1), full_entry(2), full_entry(3)))
    root = build_iti38_response(sent)
    entries = root.findall(f"{q(ns.RIM, 'RegistryObjectList')}/{q(ns.RIM, 'ExtrinsicObject')}")
    spoil(entries[1])
    response = parse_iti38_response(to_bytes(root))
    assert response.documents == (full_entry(1), full_entry(3))
    assert response.quirks == (quirk,)
    assert response.status is ResponseStatus.SUCCESS


def test_object_ref_without_id_is_skipped_and_the_others_kept() -> None:
    data = (
        f'<q:AdhocQueryResponse xmlns:q="{ns.QUERY}" xmlns:r="{ns.RIM}" '
        f'status="{ResponseStatus.SUCCESS.value}">'
        '<r:RegistryObjectList><r:ObjectRef home="urn:oid:1.2.3"/>'
        '<r:ObjectRef id="urn:uuid:0f1e2d3c-4b5a-4697-8a8b-000000000001" home="urn:oid:1.2.3"/>'
        "</r:RegistryObjectList></q:AdhocQueryResponse>"
    )
    response = parse_iti38_response(data.encode())
    assert response.object_refs == (ObjectRef("urn:uuid:0f1e2d3c-4b5a-4697-8a8b-000000000001", "1.2.3"),)
    assert response.quirks == (Quirk.OBJECT_REF_WITHOUT_ID_SKIPPED,)
