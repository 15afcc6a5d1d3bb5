"""Builders for IHE XCPD Cross Gateway Patient Discovery [ITI-55] (IHE ITI TF-2b 3.55.4.1 and 3.55.4.2).

:func:`build_iti55_request` writes PRPA_IN201305UV02 for the initiating gateway; :func:`build_iti55_response`
writes PRPA_IN201306UV02 for the responding gateway, including the no-match (NF), "more attributes
requested" and error (AE) forms and the echo of ``queryByParameter`` (the received element verbatim when the
parsed request kept it, else rebuilt from the model). :func:`iti55_response_for` derives
the response model from a parsed request. Building is strict: inputs that would produce a message the
schema or the profile rejects raise :class:`~xca.errors.InvalidValueError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from lxml import etree

from xca.errors import InvalidValueError
from xca.iti55._demographics import build_person, check_demographics
from xca.iti55._hl7 import XSI_TYPE, require_ii, require_oid, sub, sub_ii, sub_text
from xca.iti55._wrapper import INTERACTION_ROOT, build_device, build_header, build_query, new_root
from xca.iti55.models import (
    ACK_DETAIL_CODE_SYSTEM,
    ERROR_CODE_SYSTEM,
    REQUESTED_ATTRIBUTE_CODE_SYSTEM,
    AckCode,
    AcknowledgementDetail,
    Code,
    DetectedIssue,
    Device,
    ErrorCode,
    Ii,
    Iti55Request,
    Iti55Response,
    PatientMatch,
    QueryResponseCode,
    RequestedAttribute,
    ResponsePriority,
)

__all__ = ["build_iti55_request", "build_iti55_response", "iti55_response_for"]

_HDL_CODE_SYSTEM: Final = "1.3.6.1.4.1.19376.1.2.27.2"


def build_iti55_request(request: Iti55Request) -> etree._Element:
    """PRPA_IN201305UV02 (initiating side); wrap it with :func:`xca.soap.build_envelope`."""
    deferred = request.query.priority == ResponsePriority.DEFERRED
    if deferred and not request.respond_to:
        raise InvalidValueError("a deferred query (priority D) needs respond_to, the deferred-response URL")
    if request.respond_to and not deferred:
        raise InvalidValueError("respond_to only applies to deferred queries (priority D)")
    root = new_root("PRPA_IN201305UV02")
    build_header(
        root,
        interaction="PRPA_IN201305UV02",
        message_id=request.message_id,
        creation_time=request.creation_time,
        processing_code=request.processing_code,
        accept_ack="AL",
    )
    build_device(root, "receiver", "RCV", request.receiver, hcid_required=False)
    if request.respond_to:
        respond_to = sub(root, "respondTo", {"typeCode": "RSP"})
        sub(respond_to, "telecom", {"value": request.respond_to})
        entity = sub(respond_to, "entityRsp", {"classCode": "ORG", "determinerCode": "INSTANCE"})
        sub(entity, "id", {"root": require_oid(request.sender.home_community_id, "sender homeCommunityId")})
    build_device(root, "sender", "SND", request.sender, hcid_required=True)
    control = sub(root, "controlActProcess", {"classCode": "CACT", "moodCode": "EVN"})
    sub(control, "code", {"code": "PRPA_TE201305UV02", "codeSystem": INTERACTION_ROOT})
    build_query(control, request.query, strict=True)
    return root


def _check_response(response: Iti55Response) -> None:
    code, ack = response.query_response_code, response.ack_code
    if ack is None:
        raise InvalidValueError("a response needs an acknowledgement code (AA or AE)")
    if response.query is None:
        raise InvalidValueError("a response must echo the request's queryByParameter (query)")
    if response.target_message_id is None:
        raise InvalidValueError("a response must name the request's message id (target_message_id)")
    if code == QueryResponseCode.OK and not response.matches:
        raise InvalidValueError("queryResponseCode OK needs at least one match; use NF for no match")
    if code != QueryResponseCode.OK and response.matches:
        raise InvalidValueError(f"queryResponseCode {code} cannot carry matches")
    if (ack == AckCode.AE) != (code in (QueryResponseCode.AE, QueryResponseCode.QE)):
        raise InvalidValueError("acknowledgement AE goes with queryResponseCode AE or QE, and only with them")
    for detail in response.acknowledgement_details:
        if detail.type_code not in (None, "E", "W", "I"):
            raise InvalidValueError("acknowledgementDetail typeCode must be E, W or I")


def _match(control: etree._Element, match: PatientMatch) -> None:
    require_ii(match.patient_id, "matched patient id", extension=True)
    home = require_oid(match.home_community_id, "match homeCommunityId (custodian)")
    if match.score is None or not 0 <= match.score <= 100:
        raise InvalidValueError("a match needs a score (queryMatchObservation) between 0 and 100")
    check_demographics(match.demographics, query=False)
    subject = sub(control, "subject", {"typeCode": "SUBJ"})
    event = sub(subject, "registrationEvent", {"classCode": "REG", "moodCode": "EVN"})
    sub(event, "id", {"nullFlavor": "NA"})
    sub(event, "statusCode", {"code": "active"})
    subject1 = sub(event, "subject1", {"typeCode": "SBJ"})
    patient = sub(subject1, "patient", {"classCode": "PAT"})
    sub_ii(patient, "id", match.patient_id)
    sub(patient, "statusCode", {"code": "active"})
    build_person(patient, match.demographics)
    observation = sub(sub(patient, "subjectOf1", {"typeCode": "SBJ"}), "queryMatchObservation")
    observation.set("classCode", "COND")
    observation.set("moodCode", "EVN")
    sub(observation, "code", {"code": "IHE_PDQ"})
    sub(observation, "value", {XSI_TYPE: "INT", "value": str(match.score)})
    custodian = sub(event, "custodian", {"typeCode": "CST"})
    entity = sub(custodian, "assignedEntity", {"classCode": "ASSIGNED"})
    sub(entity, "id", {"root": home})
    sub(entity, "code", {"code": "NotHealthDataLocator", "codeSystem": _HDL_CODE_SYSTEM})


def _code(parent: etree._Element, local: str, code: Code) -> None:
    attrs = {"code": code.code}
    if code.code_system:
        attrs["codeSystem"] = require_oid(code.code_system, "code system")
    if code.display:
        attrs["displayName"] = code.display
    sub(parent, local, attrs)


def _issue(control: etree._Element, issue: DetectedIssue) -> None:
    event = sub(sub(control, "reasonOf", {"typeCode": "RSON"}), "detectedIssueEvent")
    event.set("classCode", "ALRT")
    event.set("moodCode", "EVN")
    _code(event, "code", issue.code)
    for error in issue.errors:
        management = sub(sub(event, "mitigatedBy", {"typeCode": "MITGT"}), "detectedIssueManagement")
        management.set("classCode", "ACT")
        management.set("moodCode", "EVN")
        _code(management, "code", error)
    for attribute in issue.requested_attributes:
        order = sub(sub(event, "triggerFor", {"typeCode": "TRIG"}), "actOrderRequired")
        order.set("classCode", "ACT")
        order.set("moodCode", "RQO")
        _code(order, "code", attribute)


def _acknowledgement(root: etree._Element, response: Iti55Response, code: AckCode, target: Ii) -> None:
    ack = sub(root, "acknowledgement")
    sub(ack, "typeCode", {"code": AckCode(code).value})
    sub_ii(sub(ack, "targetMessage"), "id", require_ii(target, "target message id", uuid_ok=True))
    for detail in response.acknowledgement_details:
        element = sub(
            ack, "acknowledgementDetail", {"typeCode": detail.type_code} if detail.type_code else None
        )
        if detail.code is not None:
            _code(element, "code", detail.code)
        if detail.text:
            sub_text(element, "text", detail.text)
        for location in detail.locations:
            sub_text(element, "location", location)


def build_iti55_response(response: Iti55Response) -> etree._Element:
    """PRPA_IN201306UV02 (responding side): matches (OK), no match (NF), or an error (AE/QE)."""
    _check_response(response)
    assert response.query is not None  # checked above
    assert response.target_message_id is not None
    assert response.ack_code is not None
    root = new_root("PRPA_IN201306UV02")
    build_header(
        root,
        interaction="PRPA_IN201306UV02",
        message_id=response.message_id,
        creation_time=response.creation_time,
        processing_code=response.processing_code,
        accept_ack="NE",
    )
    build_device(root, "receiver", "RCV", response.receiver, hcid_required=False)
    build_device(root, "sender", "SND", response.sender, hcid_required=True)
    _acknowledgement(root, response, response.ack_code, response.target_message_id)
    control = sub(root, "controlActProcess", {"classCode": "CACT", "moodCode": "EVN"})
    sub(control, "code", {"code": "PRPA_TE201306UV02", "codeSystem": INTERACTION_ROOT})
    for match in response.matches:
        _match(control, match)
    for issue in response.issues:
        _issue(control, issue)
    query_ack = sub(control, "queryAck")
    sub_ii(query_ack, "queryId", response.query_id or response.query.query_id)
    sub(query_ack, "statusCode", {"code": "deliveredResponse"})
    sub(query_ack, "queryResponseCode", {"code": QueryResponseCode(response.query_response_code).value})
    count = str(len(response.matches))
    sub(query_ack, "resultTotalQuantity", {"value": count})
    sub(query_ack, "resultCurrentQuantity", {"value": count})
    sub(query_ack, "resultRemainingQuantity", {"value": "0"})
    build_query(control, response.query, strict=False)
    return root


def iti55_response_for(
    request: Iti55Request,
    *,
    message_id: Ii,
    creation_time: datetime,
    responder: Device,
    matches: Sequence[PatientMatch] = (),
    requested_attributes: Sequence[RequestedAttribute] = (),
    error: ErrorCode | None = None,
    error_text: str | None = None,
) -> Iti55Response:
    """The response model answering ``request``: OK with matches, NF (optionally asking for more
    attributes), or, when ``error`` is given, AE with an INTERR acknowledgementDetail."""
    if error is not None and (matches or requested_attributes):
        raise InvalidValueError("an error response carries neither matches nor requested attributes")
    if matches and requested_attributes:
        raise InvalidValueError("requested attributes go with a no-match (NF) response")
    issues: tuple[DetectedIssue, ...] = ()
    details: tuple[AcknowledgementDetail, ...] = ()
    if error is not None:
        issues = (DetectedIssue(errors=(Code(error, ERROR_CODE_SYSTEM),)),)
        details = (AcknowledgementDetail(Code("INTERR", ACK_DETAIL_CODE_SYSTEM), error_text, "E"),)
    elif requested_attributes:
        codes = tuple(Code(a, REQUESTED_ATTRIBUTE_CODE_SYSTEM) for a in requested_attributes)
        issues = (DetectedIssue(requested_attributes=codes),)
    code = QueryResponseCode.AE if error else QueryResponseCode.OK if matches else QueryResponseCode.NF
    return Iti55Response(
        message_id=message_id,
        creation_time=creation_time,
        sender=responder,
        receiver=request.sender,
        ack_code=AckCode.AE if error else AckCode.AA,
        query_response_code=code,
        target_message_id=request.message_id,
        query_id=request.query.query_id,
        matches=tuple(matches),
        query=request.query,
        acknowledgement_details=details,
        issues=issues,
        processing_code=request.processing_code,
    )
