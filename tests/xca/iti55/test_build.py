"""ITI-55 builders: every variant validates against the HL7 v3 schemas, alone and in a SOAP envelope;
bad inputs raise InvalidValueError with a clear message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from lxml import etree

from tests.xca.iti55 import factories as f
from tests.xca.schemas import assert_valid
from xca import ns
from xca.errors import InvalidValueError
from xca.iti55 import (
    AckCode,
    Demographics,
    Device,
    ErrorCode,
    Ii,
    Iti55Response,
    PartialDate,
    PersonName,
    QueryResponseCode,
    RequestedAttribute,
    ResponsePriority,
    Telecom,
    build_iti55_request,
    build_iti55_response,
)
from xca.iti55._wrapper import _device
from xca.soap import Action

REQUESTS: dict[str, Callable[[], etree._Element]] = {
    "full demographics": lambda: build_iti55_request(f.request()),
    "SSN only": lambda: build_iti55_request(f.request(f.SSN_ONLY)),
    "name and birth date only": lambda: build_iti55_request(
        f.request(Demographics(names=f.FULL.names[:1], birth_date=f.FULL.birth_date))
    ),
    "deferred with respondTo": lambda: build_iti55_request(
        f.request(
            query=replace(f.request().query, priority=ResponsePriority.DEFERRED),
            respond_to="https://initiator.example/xcpd-deferred",
        )
    ),
    "minimum degree of match": lambda: build_iti55_request(
        f.request(query=replace(f.request().query, minimum_degree_match=85))
    ),
    "name and birth year-month": lambda: build_iti55_request(
        f.request(Demographics(names=f.FULL.names[:1], birth_date_partial=PartialDate(1971, 2)))
    ),
}
RESPONSES: dict[str, Callable[[], etree._Element]] = {
    "one match": lambda: build_iti55_response(f.response(matches=(f.match(),))),
    "several matches": lambda: build_iti55_response(
        f.response(matches=(f.match("P-1", 97), f.match("P-2", 80), f.match("P-3", 55)))
    ),
    "no match (NF)": lambda: build_iti55_response(f.response()),
    "more attributes requested": lambda: build_iti55_response(
        f.response(
            requested=(
                RequestedAttribute.GENDER,
                RequestedAttribute.ADDRESS,
                RequestedAttribute.BIRTH_PLACE_NAME,
            )
        )
    ),
    "error (AE)": lambda: build_iti55_response(f.response(error=ErrorCode.INTERNAL_ERROR)),
    "match born in a known year only": lambda: build_iti55_response(
        f.response(
            matches=(
                f.match(
                    demographics=replace(
                        f.MATCH_DEMOGRAPHICS, birth_date=None, birth_date_partial=PartialDate(1971)
                    )
                ),
            )
        )
    ),
    "answer not available": lambda: build_iti55_response(f.response(error=ErrorCode.ANSWER_NOT_AVAILABLE)),
    "query error (QE)": lambda: build_iti55_response(
        replace(f.response(error=ErrorCode.INTERNAL_ERROR), query_response_code=QueryResponseCode.QE)
    ),
}


@pytest.mark.parametrize("build", REQUESTS.values(), ids=REQUESTS.keys())
def test_request_variants_validate_alone_and_in_an_envelope(build: Callable[[], etree._Element]) -> None:
    body = build()
    assert_valid(body, "PRPA_IN201305UV02")
    f.assert_valid_envelope(body, "PRPA_IN201305UV02", Action.ITI55_REQUEST)


@pytest.mark.parametrize("build", RESPONSES.values(), ids=RESPONSES.keys())
def test_response_variants_validate_alone_and_in_an_envelope(build: Callable[[], etree._Element]) -> None:
    body = build()
    assert_valid(body, "PRPA_IN201306UV02")
    f.assert_valid_envelope(body, "PRPA_IN201306UV02", Action.ITI55_RESPONSE)


def _x(element: etree._Element, expr: str) -> list[str]:
    result = element.xpath(expr, namespaces={"h": ns.HL7V3})
    assert isinstance(result, list)
    return [str(r) for r in result]


def test_request_carries_the_profile_fixed_values() -> None:
    body = build_iti55_request(f.request())
    assert _x(body, "h:interactionId/@extension") == ["PRPA_IN201305UV02"]
    assert _x(body, "h:acceptAckCode/@code") == ["AL"]
    assert _x(body, "h:sender/h:device/h:asAgent/h:representedOrganization/h:id/@root") == [
        f.INITIATOR.home_community_id
    ]
    assert _x(body, "h:controlActProcess/h:code/@code") == ["PRPA_TE201305UV02"]
    query = "h:controlActProcess/h:queryByParameter/"
    assert _x(body, query + "h:responsePriorityCode/@code") == ["I"]
    assert _x(body, query + "h:parameterList/h:livingSubjectBirthTime/h:value/@value") == ["19710228"]
    assert _x(body, query + "h:parameterList/h:livingSubjectId/h:value/@root") == [
        "2.16.840.1.113883.4.1",
        "1.3.6.1.4.1.99999.2",
    ]
    assert _x(body, query + "h:parameterList/h:principalCareProviderId/h:value/@root") == [
        "2.16.840.1.113883.4.6"
    ]
    assert _x(body, "h:creationTime/@value") == ["20240501123015+0000"]


def test_requests_for_the_same_patient_each_carry_their_own_query_id() -> None:
    # A pull sends one query to every gateway: each request's queryByParameter is copied from one built
    # before, with its own queryId; the copies never carry another request's id or share its elements.
    def with_query_id(query_id: Ii) -> etree._Element:
        request = f.request()
        return build_iti55_request(replace(request, query=replace(request.query, query_id=query_id)))

    first = with_query_id(Ii("1.2.3.9", "first"))
    second = with_query_id(Ii("1.2.3.9"))
    third = with_query_id(Ii("1.2.3.8", "third"))
    query_id = "h:controlActProcess/h:queryByParameter/h:queryId"
    assert [_x(b, query_id + "/@root") + _x(b, query_id + "/@extension") for b in (first, second, third)] == [
        ["1.2.3.9", "first"],
        ["1.2.3.9"],
        ["1.2.3.8", "third"],
    ]
    first_query = first.find(f"{{{ns.HL7V3}}}controlActProcess/{{{ns.HL7V3}}}queryByParameter")
    assert first_query is not None
    first_query.find(f"{{{ns.HL7V3}}}queryId").set("extension", "changed")  # type: ignore[union-attr]
    fourth = with_query_id(Ii("1.2.3.9", "fourth"))
    assert _x(fourth, query_id + "/@extension") == ["fourth"]
    for body in (first, second, third, fourth):
        assert_valid(body, "PRPA_IN201305UV02")
        assert etree.tostring(body).count(b"xmlns") == 2  # declared once, on the root


def test_requests_to_several_gateways_each_carry_their_own_receiver() -> None:
    # Devices are copied from ones built before for the same device: each request names its own receiver,
    # a change to one request's copy reaches no other, and the copies are what building afresh writes.
    def to(device_id: str, home: str) -> etree._Element:
        return build_iti55_request(
            replace(f.request(), receiver=Device(device_id, home, f"https://{home}/xcpd"))
        )

    first, second = to("1.2.3.4.1", "1.2.3.4"), to("1.2.3.5.1", "1.2.3.5")
    receiver = "h:receiver/h:device/h:asAgent/h:representedOrganization/h:id/@root"
    assert (_x(first, receiver), _x(second, receiver)) == (["1.2.3.4"], ["1.2.3.5"])
    first.find(f"{{{ns.HL7V3}}}receiver/{{{ns.HL7V3}}}device/{{{ns.HL7V3}}}id").set("root", "2.9.9")  # type: ignore[union-attr]
    again = to("1.2.3.4.1", "1.2.3.4")
    assert _x(again, "h:receiver/h:device/h:id/@root") == ["1.2.3.4.1"]
    _device.cache_clear()
    assert etree.tostring(to("1.2.3.4.1", "1.2.3.4")) == etree.tostring(again)
    for body in (first, second, again):
        assert_valid(body, "PRPA_IN201305UV02")
        assert etree.tostring(body).count(b"xmlns") == 2  # declared once, on the root


def test_error_and_more_attributes_responses_carry_their_codes() -> None:
    error = build_iti55_response(f.response(error=ErrorCode.INTERNAL_ERROR))
    assert _x(error, "h:acknowledgement/h:typeCode/@code") == ["AE"]
    assert _x(error, "h:acknowledgement/h:acknowledgementDetail/h:code/@code") == ["INTERR"]
    assert _x(error, "h:controlActProcess/h:queryAck/h:queryResponseCode/@code") == ["AE"]
    management = "h:controlActProcess/h:reasonOf/h:detectedIssueEvent/h:mitigatedBy/h:detectedIssueManagement"
    assert _x(error, management + "/h:code/@code") == ["InternalError"]
    assert _x(error, management + "/h:code/@codeSystem") == ["1.3.6.1.4.1.19376.1.2.27.3"]
    more = build_iti55_response(f.response(requested=(RequestedAttribute.ADDRESS,)))
    assert _x(more, "h:acknowledgement/h:typeCode/@code") == ["AA"]
    assert _x(more, "h:controlActProcess/h:queryAck/h:queryResponseCode/@code") == ["NF"]
    order = "h:controlActProcess/h:reasonOf/h:detectedIssueEvent/h:triggerFor/h:actOrderRequired/h:code"
    assert _x(more, order + "/@code") == ["PatientAddressRequested"]
    assert _x(more, order + "/@codeSystem") == ["1.3.6.1.4.1.19376.1.2.27.1"]


def test_response_echoes_the_query_and_targets_the_request() -> None:
    body = build_iti55_response(f.response(matches=(f.match(),)))
    assert _x(body, "h:acknowledgement/h:targetMessage/h:id/@root") == [f.request().message_id.root]
    assert _x(body, "h:controlActProcess/h:queryByParameter/h:queryId/@extension") == ["Q-1"]
    assert _x(body, "h:controlActProcess/h:queryAck/h:queryId/@extension") == ["Q-1"]
    event = "h:controlActProcess/h:subject/h:registrationEvent/"
    assert _x(body, event + "h:custodian/h:assignedEntity/h:id/@root") == [f.RESPONDER.home_community_id]
    assert _x(body, event + "h:subject1/h:patient/h:id/@extension") == ["P-1"]
    assert _x(body, event + "h:subject1/h:patient/h:subjectOf1/h:queryMatchObservation/h:value/@value") == [
        "97"
    ]


BAD_REQUESTS: dict[str, tuple[Callable[[], object], str]] = {
    "no id and no birth date": (
        lambda: build_iti55_request(f.request(Demographics(names=f.FULL.names))),
        "livingSubjectId, or a name and a birth date",
    ),
    "empty demographics": (lambda: build_iti55_request(f.request(Demographics())), "livingSubjectId"),
    "bad sender homeCommunityId": (
        lambda: build_iti55_request(f.request(sender=Device("1.2.3", "urn:oid:1.2.3"))),
        "sender homeCommunityId",
    ),
    "missing sender homeCommunityId": (
        lambda: build_iti55_request(f.request(sender=Device("1.2.3"))),
        "sender needs a homeCommunityId",
    ),
    "bad receiver device id": (
        lambda: build_iti55_request(f.request(receiver=Device("not-an-oid"))),
        "receiver device id",
    ),
    "identifier with stray character": (
        lambda: build_iti55_request(f.request(Demographics(identifiers=(Ii("1.2.3}", "X"),)))),
        "patient identifier root",
    ),
    "identifier without extension": (
        lambda: build_iti55_request(f.request(Demographics(identifiers=(Ii("1.2.3"),)))),
        "needs an extension",
    ),
    "deferred without respondTo": (
        lambda: build_iti55_request(
            f.request(query=replace(f.request().query, priority=ResponsePriority.DEFERRED))
        ),
        "respond_to",
    ),
    "respondTo on an immediate query": (
        lambda: build_iti55_request(f.request(respond_to="https://initiator.example/x")),
        "deferred",
    ),
    "telecom that is not a URL": (
        lambda: build_iti55_request(f.request(replace(f.FULL, telecoms=(Telecom("555 0100"),)))),
        "URL",
    ),
    "raw birth date only": (
        lambda: build_iti55_request(
            f.request(
                Demographics(
                    names=f.FULL.names, birth_date_raw="19849711", identifiers=f.SSN_ONLY.identifiers
                )
            )
        ),
        "birth date must be a date",
    ),
    "empty name": (
        lambda: build_iti55_request(f.request(replace(f.SSN_ONLY, names=(PersonName(),)))),
        "given or family",
    ),
    "minimum degree over 100": (
        lambda: build_iti55_request(f.request(query=replace(f.request().query, minimum_degree_match=101))),
        "between 0 and 100",
    ),
    "message id that is neither OID nor UUID": (
        lambda: build_iti55_request(f.request(message_id=Ii("msg-1"))),
        "message id root",
    ),
    "no creation time": (lambda: build_iti55_request(f.request(creation_time=None)), "creation time"),
    "birth date and partial birth date": (
        lambda: build_iti55_request(f.request(replace(f.FULL, birth_date_partial=PartialDate(1971)))),
        "not both",
    ),
}


@pytest.mark.parametrize(("build", "message"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_request_input_is_refused(build: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        build()


def _bad_response(**changes: object) -> Callable[[], object]:
    return lambda: build_iti55_response(replace(f.response(matches=(f.match(),)), **changes))  # type: ignore[arg-type]


BAD_RESPONSES: dict[str, tuple[Callable[[], object], str]] = {
    "OK without matches": (_bad_response(matches=()), "at least one match"),
    "NF with matches": (_bad_response(query_response_code=QueryResponseCode.NF), "cannot carry matches"),
    "AE ack with OK": (_bad_response(ack_code=AckCode.AE), "acknowledgement AE"),
    "no ack code": (_bad_response(ack_code=None), "acknowledgement code"),
    "no echoed query": (_bad_response(query=None), "echo"),
    "no target message": (_bad_response(target_message_id=None), "target_message_id"),
    "score over 100": (_bad_response(matches=(f.match(score=140),)), "score"),
    "match without a name": (
        _bad_response(matches=(f.match(demographics=f.SSN_ONLY),)),
        "at least one name",
    ),
    "match without community": (
        _bad_response(matches=(replace(f.match(), home_community_id=None),)),
        "custodian",
    ),
    "match id without extension": (
        _bad_response(matches=(replace(f.match(), patient_id=Ii("1.2.3")),)),
        "needs an extension",
    ),
    "care provider in a match": (
        _bad_response(
            matches=(
                f.match(
                    demographics=replace(
                        f.MATCH_DEMOGRAPHICS, principal_care_provider_ids=f.FULL.principal_care_provider_ids
                    )
                ),
            )
        ),
        "query parameters",
    ),
    "sender without homeCommunityId": (_bad_response(sender=Device("1.2.3")), "homeCommunityId"),
    "no creation time": (_bad_response(creation_time=None), "creation time"),
}


@pytest.mark.parametrize(("build", "message"), BAD_RESPONSES.values(), ids=BAD_RESPONSES.keys())
def test_bad_response_input_is_refused(build: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        build()


def test_response_for_derives_the_codes() -> None:
    assert f.response(matches=(f.match(),)).query_response_code == QueryResponseCode.OK
    none = f.response()
    assert (none.ack_code, none.query_response_code, none.issues) == (AckCode.AA, QueryResponseCode.NF, ())
    error = f.response(error=ErrorCode.RESPONDER_BUSY)
    assert (error.ack_code, error.query_response_code) == (AckCode.AE, QueryResponseCode.AE)
    assert error.error_codes == ("ResponderBusy",)
    assert isinstance(error, Iti55Response)
    assert error.receiver == f.INITIATOR
    with pytest.raises(InvalidValueError, match="neither matches"):
        f.response(matches=(f.match(),), error=ErrorCode.INTERNAL_ERROR)
    with pytest.raises(InvalidValueError, match="no-match"):
        f.response(matches=(f.match(),), requested=(RequestedAttribute.SSN,))
