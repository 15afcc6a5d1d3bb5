"""ITI-55 parsers: the public samples and our quirk fixtures read into the expected values; unusable
messages raise a specific WireFormatError subclass."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from xca.errors import (
    InvalidValueError,
    MissingElementError,
    UnexpectedMessageError,
    WireFormatError,
    XmlDtdForbiddenError,
    XmlRefusedError,
    XmlSyntaxError,
)
from xca.iti55 import (
    AckCode,
    AdministrativeGender,
    Code,
    Ii,
    PartialDate,
    PersonName,
    ProcessingCode,
    QueryResponseCode,
    RequestedAttribute,
    parse_iti55_request,
    parse_iti55_response,
)
from xca.safexml import parse_xml
from xca.soap import Action, Addressing, build_envelope, parse_envelope, to_bytes

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "iti55"


def _sample(shared_dir: Path, name: str) -> bytes:
    path = shared_dir / "ihe" / "samples" / name
    if not path.is_file():
        pytest.skip(f"sample {name} is absent")
    return path.read_bytes()


def test_ipf_request_sample(shared_dir: Path) -> None:
    request = parse_iti55_request(_sample(shared_dir, "ipf__iti55_request_body__iti55-sample-request.xml"))
    assert request.message_id == Ii("1.2.840.114350.1.13.0.1.7.1.1", "35423")
    assert request.creation_time == datetime(2009, 4, 17, 15, 3, 1)
    assert request.processing_code == ProcessingCode.TRAINING
    assert request.sender.device_id == "1.2.840.114350.1.13.999.567"
    assert request.sender.home_community_id == "1.2.3.928.955"
    assert request.receiver.telecom == "http://servicelocation/QDQuery"
    query = request.query
    assert query.query_id == Ii("1.2.840.114350.1.13.28.1.18.5.999", "18204")
    assert query.minimum_degree_match == 100
    demo = query.demographics
    assert demo.names == (PersonName(given=("Jimmy",), family="Jones"),)
    assert demo.gender == AdministrativeGender.MALE
    assert demo.birth_date == date(1963, 8, 5)
    assert demo.identifiers == (
        Ii("1.2.840.114350.1.13.99997.2.3412", "1234"),
        Ii("2.16.840.1.113883.4.1", "58910"),
    )
    assert demo.ssn == "58910"
    assert request.quirks == ()


def test_nist_request_template_with_placeholders_parses_with_quirks(shared_dir: Path) -> None:
    request = parse_iti55_request(
        _sample(shared_dir, "nist__xcpd_request_template_annotated__findpatient.xml")
    )
    assert request.sender.home_community_id == "1.2.840.114350.1.13.99998"
    assert request.receiver.home_community_id == "2.16.840.1.113883.3.72.6.1"
    assert request.query.query_id == Ii("2.16.840.1.113883.3.72.6.5.100.154.75", "3809840989")
    demo = request.query.demographics
    assert demo.ssn == "001111111"
    assert demo.identifiers[0] == Ii("1.2.3.4.5.1000", "801")
    assert demo.principal_care_provider_ids[0].root == "1.2.3.4.5.6"
    assert demo.npi is None
    assert demo.names[0].given == ("$firstName_id$", "$secondName_id$")
    assert len(demo.telecoms) == 2
    assert [t.use for t in demo.telecoms] == ["HP", "WP"]
    assert demo.addresses[0].street_lines == ("$homeAddress1_id$", "$homeAddress2_id$")
    assert demo.gender is None
    assert (demo.birth_date, demo.birth_date_raw) == (None, "$dob_id$")
    assert request.quirks == ("unknown administrative gender code", "unreadable birth date")


def test_ipf_response_sample_with_two_matches(shared_dir: Path) -> None:
    response = parse_iti55_response(
        _sample(shared_dir, "ipf__iti55_response_body__iti55-sample-response.xml")
    )
    assert (response.ack_code, response.query_response_code) == (AckCode.AA, QueryResponseCode.OK)
    assert response.target_message_id == Ii("1.2.840.114350.1.13.0.1.7.1.1", "35423")
    assert response.query_id == Ii("1.2.840.114350.1.13.28.1.18.5.999", "18204")
    first, second = response.matches
    assert first.patient_id == Ii("1.2.840.114350.1.13.99998.8734", "34827K410")
    assert first.home_community_id == "1.2.840.114350.1.13.99998.8734"
    assert first.score == 92
    assert first.demographics.names == (PersonName(given=("James",), family="Jones"),)
    assert first.demographics.birth_date == date(1963, 8, 4)
    assert first.demographics.telecoms[0].value == "tel:+1-481-555-7684;ext=2342"
    assert first.demographics.addresses[0].city == "Some City"
    assert first.demographics.ssn == "999-88-6345"
    assert first.cx.id == "34827K410"
    assert second.patient_id.extension == "34827R534"
    assert second.score == 85
    assert second.demographics.names[0].given == ("Jim",)
    assert response.query is not None
    assert response.query.demographics.names[0].given == ("Jimmy",)
    assert response.quirks == ()


def test_nist_response_with_impossible_birth_date_records_a_quirk(shared_dir: Path) -> None:
    response = parse_iti55_response(_sample(shared_dir, "nist__xcpd_response__FindPatientResponse.xml"))
    assert response.message_id == Ii("57e77e59-1743-4d36-a8a2-de1735793e52")
    (match,) = response.matches
    assert match.patient_id == Ii("1.2.3.4.5.1000", "801")
    assert match.demographics.names == (PersonName(given=("Chip",), family="Moore"),)
    assert match.demographics.birth_date is None
    assert match.demographics.birth_date_raw == "19849711"
    assert match.score == 100
    # The custodian id is empty: the responder's own homeCommunityId (sender) stands in.
    assert match.home_community_id == "2.16.840.1.113883.3.72.6.1"
    assert "unreadable birth date" in response.quirks
    assert "match without custodian homeCommunityId; used the sender's" in response.quirks


def test_quirky_peer_response_is_repaired_and_recorded() -> None:
    response = parse_iti55_response((FIXTURES / "quirky_match.xml").read_bytes())
    assert response.message_id == Ii("5E0C1B3A-2F4D-4C6B-9A8E-7D1F0E2C3B4A")
    assert response.creation_time == datetime(
        2023, 1, 2, 3, 4, 5, 123000, tzinfo=timezone(timedelta(hours=-5))
    )
    assert response.sender.home_community_id == "1.3.6.1.4.1.77777.9621"
    first, second = response.matches
    assert first.patient_id == Ii("1.3.6.1.4.1.77777.2.9621", "PX-100")
    assert first.home_community_id == "1.3.6.1.4.1.77777.9621"
    assert first.score == 87
    assert len(first.demographics.names) == 3
    assert first.demographics.names[1] == PersonName(given=("Rob",), family="Sample", suffix=("Jr",), use="P")
    assert first.demographics.names[2] == PersonName(text="Robin Sample")
    assert [a.city for a in first.demographics.addresses] == ["Alpha", "Beta"]
    assert first.demographics.gender == AdministrativeGender.MALE
    assert second.patient_id == Ii("1.3.6.1.4.1.77777.2", "PX-200")
    assert second.demographics.gender == AdministrativeGender.UNDIFFERENTIATED
    assert (second.demographics.birth_date, second.demographics.birth_date_raw) == (None, None)
    assert second.demographics.birth_date_partial == PartialDate(1965)
    assert response.query is None
    assert set(response.quirks) == {
        "urn:uuid: prefix in message id root",
        "repaired OID in sender homeCommunityId",
        "repaired OID in patient id",
        "repaired OID in custodian id",
        "lower-case administrative gender code",
        "fractional match score scaled to 0-100",
        "match with several patient ids; the first usable one was used",
        "response without the echoed queryByParameter",
    }


def test_quirks_carry_no_phi() -> None:
    response = parse_iti55_response((FIXTURES / "quirky_match.xml").read_bytes())
    text = " ".join(response.quirks)
    for value in ("Robin", "Sample", "1965", "PX-", "999009999", "9621"):
        assert value not in text


def test_peer_error_response() -> None:
    response = parse_iti55_response((FIXTURES / "error.xml").read_bytes())
    assert (response.ack_code, response.query_response_code) == (AckCode.AE, QueryResponseCode.AE)
    assert response.matches == ()
    (detail,) = response.acknowledgement_details
    assert detail.code == Code("INTERR", "2.16.840.1.113883.5.1100")
    assert (detail.text, detail.type_code, detail.locations) == ("Internal error", "E", ("MPI",))
    assert response.error_codes == ("AnswerNotAvailable",)
    assert response.issues[0].errors[0].code_system == "1.3.6.1.4.1.19376.1.2.27.3"


@pytest.mark.parametrize(("sent", "read"), [("AR", AckCode.AE), ("CA", AckCode.AA), ("CE", AckCode.AE)])
def test_other_hl7_acknowledgement_types_are_read_with_a_quirk(sent: str, read: AckCode) -> None:
    response = parse_iti55_response(_fixture_with({'<typeCode code="AA"/>': f'<typeCode code="{sent}"/>'}))
    assert response.ack_code == read
    assert f"acknowledgement {sent} read as {read}" in response.quirks


@pytest.mark.parametrize("sent", ["NaN", "INF", "-Infinity", "1e400", "high", "9" * 5000])
def test_unreadable_scores_are_dropped_not_raised(sent: str) -> None:
    response = parse_iti55_response(_fixture_with({'value="0.87"': f'value="{sent}"'}))
    assert response.matches[0].score is None
    assert response.matches[1].score == 61
    assert "unreadable match score" in response.quirks


@pytest.mark.parametrize(("sent", "read"), [("0.87", 87), ("87.6", 88), ("140", None), ("-1", None)])
def test_scores_are_scaled_or_range_checked(sent: str, read: int | None) -> None:
    response = parse_iti55_response(_fixture_with({'value="0.87"': f'value="{sent}"'}))
    assert response.matches[0].score == read


def test_lower_case_codes_are_read_with_a_quirk() -> None:
    response = parse_iti55_response(
        _fixture_with(
            {
                '<typeCode code="AA"/>': '<typeCode code="aa"/>',
                'queryResponseCode code="OK"': 'queryResponseCode code="ok"',
            }
        )
    )
    assert (response.ack_code, response.query_response_code) == (AckCode.AA, QueryResponseCode.OK)
    assert {"lower-case acknowledgement typeCode", "lower-case queryResponseCode"} <= set(response.quirks)


def test_first_usable_patient_id_is_taken_when_the_first_has_no_root() -> None:
    response = parse_iti55_response(
        _fixture_with({'<id root="1.3.6.1.4.1.77777.2" extension="PX-200"/>': '<id extension="PX-200"/>'})
    )
    assert response.matches[1].patient_id == Ii("1.3.6.1.4.1.77777.3", "ALT-200")
    assert "match with several patient ids; the first usable one was used" in response.quirks


def test_broken_query_echo_costs_the_echo_not_the_matches() -> None:
    broken_echo = '</queryAck><queryByParameter><queryId root="1.2.3" extension="Q-1"/></queryByParameter>'
    response = parse_iti55_response(_fixture_with({"</queryAck>": broken_echo}))
    assert len(response.matches) == 2
    assert response.query is None
    assert "unreadable echoed queryByParameter" in response.quirks


def test_the_echo_can_be_left_unread() -> None:
    broken_echo = '</queryAck><queryByParameter><queryId root="1.2.3" extension="Q-1"/></queryByParameter>'
    data = _fixture_with({"</queryAck>": broken_echo})
    response = parse_iti55_response(data, echo=False)
    assert response.query is None
    assert "unreadable echoed queryByParameter" not in response.quirks
    assert response.matches == parse_iti55_response(data).matches


def test_peer_more_attributes_requested() -> None:
    response = parse_iti55_response((FIXTURES / "more_attributes.xml").read_bytes())
    assert response.query_response_code == QueryResponseCode.NF
    assert response.requested_attributes == (RequestedAttribute.GENDER, RequestedAttribute.ADDRESS)
    assert response.issues[0].code.code == "ActAdministrativeDetectedIssueCode"


def test_body_unwrapped_from_a_soap_envelope(shared_dir: Path) -> None:
    body = parse_xml(_sample(shared_dir, "ipf__iti55_request_body__iti55-sample-request.xml"))
    envelope = build_envelope(
        body, Addressing.request(Action.ITI55_REQUEST, to="https://responder.example/xcpd")
    )
    parsed = parse_envelope(to_bytes(envelope))
    assert parsed.body is not None
    assert parse_iti55_request(parsed.body).query.query_id.extension == "18204"
    with pytest.raises(UnexpectedMessageError):
        parse_iti55_request(parsed.root)


def _fixture_with(replacements: dict[str, str]) -> bytes:
    text = (FIXTURES / "quirky_match.xml").read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text
        text = text.replace(old, new)
    return text.encode()


BAD: dict[str, tuple[bytes, type[WireFormatError] | type[XmlRefusedError]]] = {
    "request parsed as response": (
        b'<PRPA_IN201305UV02 xmlns="urn:hl7-org:v3" ITSVersion="XML_1.0"/>',
        UnexpectedMessageError,
    ),
    "root without namespace": (b'<PRPA_IN201306UV02 ITSVersion="XML_1.0"/>', UnexpectedMessageError),
    "other HL7 message": (b'<MCCI_IN000002UV01 xmlns="urn:hl7-org:v3"/>', UnexpectedMessageError),
    "missing queryAck": (
        _fixture_with({'<queryResponseCode code="OK"/>': "", "<queryAck>": "<!--", "</queryAck>": "-->"}),
        MissingElementError,
    ),
    "unknown queryResponseCode": (
        _fixture_with({'<queryResponseCode code="OK"/>': '<queryResponseCode code="ZZ"/>'}),
        InvalidValueError,
    ),
    "unknown acknowledgement code": (
        _fixture_with({'<typeCode code="AA"/>': '<typeCode code="XX"/>'}),
        InvalidValueError,
    ),
    "missing message id": (
        _fixture_with({'<id root="urn:uuid:5E0C1B3A-2F4D-4C6B-9A8E-7D1F0E2C3B4A"/>': ""}),
        MissingElementError,
    ),
    "garbage": (b"\x00\xffthis is not xml<<", XmlSyntaxError),
    "empty": (b"", XmlSyntaxError),
    "doctype": (
        b'<!DOCTYPE x [<!ENTITY a "b">]><PRPA_IN201306UV02 xmlns="urn:hl7-org:v3"/>',
        XmlDtdForbiddenError,
    ),
}


@pytest.mark.parametrize(("data", "error"), BAD.values(), ids=BAD.keys())
def test_unusable_responses_raise_specific_errors(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_iti55_response(data)


def test_unusable_requests_raise_specific_errors(shared_dir: Path) -> None:
    sample = _sample(shared_dir, "ipf__iti55_request_body__iti55-sample-request.xml")
    with pytest.raises(UnexpectedMessageError):
        parse_iti55_request(_sample(shared_dir, "ipf__iti55_response_body__iti55-sample-response.xml"))
    root = parse_xml(sample)
    query = root.find(".//{urn:hl7-org:v3}queryByParameter")
    assert query is not None
    query.getparent().remove(query)  # type: ignore[union-attr]
    with pytest.raises(MissingElementError, match="queryByParameter"):
        parse_iti55_request(root)
    root = parse_xml(sample)
    sender = root.find("{urn:hl7-org:v3}sender")
    assert sender is not None
    root.remove(sender)
    with pytest.raises(MissingElementError, match="sender"):
        parse_iti55_request(etree.tostring(root))
    with pytest.raises(XmlSyntaxError):
        parse_iti55_request(b"<PRPA_IN201305UV02")


# --- one bad item costs that item -------------------------------------------------------------------------

_H = "{urn:hl7-org:v3}"
_FIRST_ID = '<id root="1.3.6.1.4.1.77777.2.9621}" extension="PX-100"/>'


def _first_patient(root: etree._Element) -> etree._Element:
    patient = root.find(f".//{_H}registrationEvent/{_H}subject1/{_H}patient")
    assert patient is not None
    return patient


def _drop(element: etree._Element | None) -> None:
    assert element is not None
    parent = element.getparent()
    assert parent is not None
    parent.remove(element)


def _set_first_id(message: etree._Element, **attrs: str) -> None:
    element = _first_patient(message).find(f"{_H}id")
    assert element is not None
    element.attrib.clear()
    element.attrib.update(attrs)


BAD_MATCHES: dict[str, tuple[Callable[[etree._Element], None], str]] = {
    "no patient id": (
        lambda root: _drop(_first_patient(root).find(f"{_H}id")),
        "match without a usable patient id (root and extension) skipped",
    ),
    "patient id without extension": (
        lambda root: _set_first_id(root, nullFlavor="UNK"),
        "match without a usable patient id (root and extension) skipped",
    ),
    "patient id without a usable root": (
        lambda message: _set_first_id(message, root="not an oid", extension="PX-100"),
        "match without a usable patient id (root and extension) skipped",
    ),
    "no patientPerson": (
        lambda root: _drop(_first_patient(root).find(f"{_H}patientPerson")),
        "match without patientPerson skipped",
    ),
    "no subject1/patient": (
        lambda root: _drop(_first_patient(root)),
        "match without subject1/patient skipped",
    ),
}


@pytest.mark.parametrize(("spoil", "quirk"), BAD_MATCHES.values(), ids=BAD_MATCHES.keys())
def test_a_bad_match_is_skipped_and_the_good_one_kept(
    spoil: Callable[[etree._Element], None], quirk: str
) -> None:
    root = parse_xml((FIXTURES / "quirky_match.xml").read_bytes())
    spoil(root)
    response = parse_iti55_response(root)
    (kept,) = response.matches
    assert kept.patient_id == Ii("1.3.6.1.4.1.77777.2", "PX-200")
    assert kept.score == 61
    assert response.query_response_code == QueryResponseCode.OK
    assert quirk in response.quirks
    assert "queryResponseCode OK without a usable match" not in response.quirks


def test_only_bad_matches_leave_an_ok_response_without_matches() -> None:
    response = parse_iti55_response(
        _fixture_with(
            {
                _FIRST_ID: "",
                '<id root="1.3.6.1.4.1.77777.2" extension="PX-200"/>\n'
                '            <id root="1.3.6.1.4.1.77777.3" extension="ALT-200"/>': "",
            }
        )
    )
    assert response.matches == ()
    assert response.query_response_code == QueryResponseCode.OK
    assert "queryResponseCode OK without a usable match" in response.quirks
    assert all("PX-" not in quirk for quirk in response.quirks)


# --- creation times, partial birth dates, sender community ------------------------------------------------

_CREATED = '<creationTime value="20230102030405.123-0500"/>'


@pytest.mark.parametrize(
    ("sent", "read", "quirk"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC), "ISO 8601 time in creationTime"),
        (
            "2024-05-01T12:00:00.5+02:00",
            datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=timezone(timedelta(hours=2))),
            "ISO 8601 time in creationTime",
        ),
        ("2024-05-01", datetime(2024, 5, 1), "ISO 8601 time in creationTime"),
        ("garbage", None, "unreadable time in creationTime"),
        ("20241301", None, "unreadable time in creationTime"),
        ("2024-02-30T00:00:00Z", None, "unreadable time in creationTime"),
    ],
)
def test_odd_creation_time_costs_at_most_the_time(sent: str, read: datetime | None, quirk: str) -> None:
    response = parse_iti55_response(_fixture_with({_CREATED: f'<creationTime value="{sent}"/>'}))
    assert response.creation_time == read
    assert quirk in response.quirks
    assert len(response.matches) == 2


def test_missing_creation_time_is_a_quirk_not_an_error() -> None:
    response = parse_iti55_response(_fixture_with({_CREATED: ""}))
    assert response.creation_time is None
    assert "message without creationTime" in response.quirks
    assert len(response.matches) == 2


def _request_text(shared_dir: Path) -> str:
    return _sample(shared_dir, "ipf__iti55_request_body__iti55-sample-request.xml").decode()


def test_request_with_iso_or_unreadable_creation_time_is_still_read(shared_dir: Path) -> None:
    text = _request_text(shared_dir)
    assert '<creationTime value="20090417150301"/>' in text
    iso = parse_iti55_request(text.replace('"20090417150301"', '"2009-04-17T15:03:01Z"').encode())
    assert iso.creation_time == datetime(2009, 4, 17, 15, 3, 1, tzinfo=UTC)
    assert iso.quirks == ("ISO 8601 time in creationTime",)
    garbage = parse_iti55_request(text.replace('"20090417150301"', '"yesterday"').encode())
    assert garbage.creation_time is None
    assert garbage.quirks == ("unreadable time in creationTime",)
    assert garbage.query.query_id.extension == "18204"


def test_request_sender_without_home_community_id_gets_a_quirk(shared_dir: Path) -> None:
    root = parse_xml(_sample(shared_dir, "ipf__iti55_request_body__iti55-sample-request.xml"))
    agent = root.find("{urn:hl7-org:v3}sender/{urn:hl7-org:v3}device/{urn:hl7-org:v3}asAgent")
    assert agent is not None
    agent.getparent().remove(agent)  # type: ignore[union-attr]
    request = parse_iti55_request(root)
    assert request.sender.home_community_id is None
    assert request.quirks == ("request sender without homeCommunityId",)


@pytest.mark.parametrize(
    ("sent", "partial", "raw"),
    [
        ("1965", PartialDate(1965), None),
        ("196503", PartialDate(1965, 3), None),
        ("196513", None, "196513"),
        ("0000", None, "0000"),
        ("19650", None, "19650"),
    ],
)
def test_year_and_year_month_birth_times_are_partial_dates(
    sent: str, partial: PartialDate | None, raw: str | None
) -> None:
    response = parse_iti55_response(
        _fixture_with({'<birthTime value="1965"/>': f'<birthTime value="{sent}"/>'})
    )
    demographics = response.matches[1].demographics
    assert demographics.birth_date is None
    assert (demographics.birth_date_partial, demographics.birth_date_raw) == (partial, raw)
    assert ("unreadable birth date" in response.quirks) == (raw is not None)


def test_partial_date_compares_at_its_precision() -> None:
    assert PartialDate(1965).contains(date(1965, 12, 31))
    assert PartialDate(1965, 3).contains(date(1965, 3, 1))
    assert not PartialDate(1965, 3).contains(date(1965, 4, 1))
    assert not PartialDate(1965).contains(date(1966, 1, 1))
    assert (PartialDate(1965).to_ts(), PartialDate(1965, 3).to_ts()) == ("1965", "196503")
    with pytest.raises(InvalidValueError):
        PartialDate(1965, 13)
