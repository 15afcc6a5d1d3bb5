"""Parsers for IHE XCPD Cross Gateway Patient Discovery [ITI-55] (IHE ITI TF-2b 3.55.4.1 and 3.55.4.2).

:func:`parse_iti55_request` reads PRPA_IN201305UV02 on the responding side; :func:`parse_iti55_response`
reads PRPA_IN201306UV02 on the initiating side. Both take the SOAP body element (unwrap the envelope with
:func:`xca.soap.parse_envelope`) or raw bytes, which go through :func:`xca.safexml.parse_xml`.

Parsing is tolerant of what real peers send (several names and addresses, several matches, impossible
dates, ISO 8601 or unreadable creation times, stray characters in OIDs, a missing custodian) and records each
repair in ``quirks``. One bad match costs that match, not the others: a match without patientPerson or
without a usable patient id is skipped with a quirk. A message that cannot be used raises a
:class:`~xca.errors.WireFormatError` subclass: the wrong root element
(:class:`~xca.errors.UnexpectedMessageError`), a missing required part such as the message id or the
queryAck (:class:`~xca.errors.MissingElementError`), or an uninterpretable code
(:class:`~xca.errors.InvalidValueError`).

A request's ``queryByParameter`` is kept verbatim on the model (:attr:`~xca.iti55.models.Iti55Query.raw`)
when it read cleanly, so the response can echo it exactly.
"""

from __future__ import annotations

import math
from typing import Final

from lxml import etree

from xca.errors import InvalidValueError, MissingElementError, WireFormatError
from xca.iti55._demographics import read_person
from xca.iti55._hl7 import Reader, attr, child, children, path, require, text_of
from xca.iti55._payload import payload_root
from xca.iti55._wrapper import check_root, read_device, read_header, read_query
from xca.iti55.models import (
    AckCode,
    AcknowledgementDetail,
    Code,
    DetectedIssue,
    Device,
    Iti55Query,
    Iti55Request,
    Iti55Response,
    PatientMatch,
    QueryResponseCode,
    ResponsePriority,
)

__all__ = ["parse_iti55_request", "parse_iti55_response"]

_ACK_CODES: Final = frozenset(AckCode)
_ACK_ALIASES: Final = {"AR": AckCode.AE, "CA": AckCode.AA, "CE": AckCode.AE, "CR": AckCode.AE}


def parse_iti55_request(data: bytes | etree._Element) -> Iti55Request:
    """Read a PRPA_IN201305UV02 query (responding side)."""
    root = payload_root(data)
    check_root(root, "PRPA_IN201305UV02")
    reader = Reader()
    message_id, created, processing = read_header(root, reader)
    receiver = read_device(root, "receiver", reader)
    sender = read_device(root, "sender", reader)
    if sender.home_community_id is None:
        reader.quirk("request sender without homeCommunityId")
    control = require(root, "controlActProcess", "PRPA_IN201305UV02")
    query = read_query(require(control, "queryByParameter", "controlActProcess"), reader)
    if not query.demographics.has_minimum_criteria:
        reader.quirk("query lacks a livingSubjectId and a name with a birth date")
    respond_to = attr(path(root, "respondTo", "telecom"), "value")
    if query.priority == ResponsePriority.DEFERRED and respond_to is None:
        reader.quirk("deferred query without respondTo")
    return Iti55Request(
        message_id=message_id,
        creation_time=created,
        sender=sender,
        receiver=receiver,
        query=query,
        respond_to=respond_to,
        processing_code=processing,
        quirks=reader.quirks,
    )


def _matches(control: etree._Element, sender: Device, reader: Reader) -> tuple[PatientMatch, ...]:
    """Every usable match; a bad one is skipped with a quirk and costs nothing else."""
    found: list[PatientMatch] = []
    for event in (e for s in children(control, "subject") for e in children(s, "registrationEvent")):
        try:
            match = _match(event, sender, reader)
        except WireFormatError:
            reader.quirk("unreadable match skipped")
            continue
        if match is not None:
            found.append(match)
    return tuple(found)


def _match(event: etree._Element, sender: Device, reader: Reader) -> PatientMatch | None:
    patient = path(event, "subject1", "patient")
    if patient is None:
        reader.quirk("match without subject1/patient skipped")
        return None
    ids = children(patient, "id")
    usable = [i for i in (reader.ii(e, "patient id") for e in ids) if i is not None and i.extension]
    if not usable:
        reader.quirk("match without a usable patient id (root and extension) skipped")
        return None
    person = child(patient, "patientPerson")
    if person is None:
        reader.quirk("match without patientPerson skipped")
        return None
    if len(ids) > 1:
        reader.quirk("match with several patient ids; the first usable one was used")
    home = reader.oid(attr(path(event, "custodian", "assignedEntity", "id"), "root"), "custodian id")
    if home is None:
        reader.quirk("match without custodian homeCommunityId; used the sender's")
        home = sender.home_community_id
    return PatientMatch(
        patient_id=usable[0],
        home_community_id=home,
        demographics=read_person(person, reader),
        score=_score(path(patient, "subjectOf1", "queryMatchObservation", "value"), reader),
    )


def _score(element: etree._Element | None, reader: Reader) -> int | None:
    value = attr(element, "value")
    if value is None:
        reader.quirk("match without a score")
        return None
    try:
        score = int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            reader.quirk("unreadable match score")
            return None
        fraction = "." in value and 0 <= number <= 1
        reader.quirk("fractional match score scaled to 0-100" if fraction else "non-integer match score")
        score = round(number * 100 if fraction else number)
    if not 0 <= score <= 100:
        reader.quirk("match score outside 0-100")
        return None
    return score


def _ack_code(text: str | None, reader: Reader) -> AckCode | None:
    """AA/AE; the other HL7 acknowledgement types are read as their nearest ITI-55 meaning."""
    if text is None:
        return None
    upper = text.upper()
    if upper in _ACK_CODES:
        if upper != text:
            reader.quirk("lower-case acknowledgement typeCode")
        return AckCode(upper)
    nearest = _ACK_ALIASES.get(upper)
    if nearest is None:
        raise InvalidValueError("unknown acknowledgement typeCode", detail={"code": text})
    reader.quirk(f"acknowledgement {upper} read as {nearest}")
    return nearest


def _issue(event: etree._Element, reader: Reader) -> DetectedIssue:
    def codes(relation: str, act: str) -> tuple[Code, ...]:
        found = (reader.code(path(r, act, "code")) for r in children(event, relation))
        return tuple(c for c in found if c is not None)

    code = reader.code(child(event, "code"))
    errors = codes("mitigatedBy", "detectedIssueManagement")
    requested = codes("triggerFor", "actOrderRequired")
    return (
        DetectedIssue(code, errors, requested)
        if code
        else DetectedIssue(errors=errors, requested_attributes=requested)
    )


def _ack_detail(element: etree._Element, reader: Reader) -> AcknowledgementDetail:
    return AcknowledgementDetail(
        code=reader.code(child(element, "code")),
        text=text_of(child(element, "text")),
        type_code=attr(element, "typeCode"),
        locations=tuple(t for t in (text_of(e) for e in children(element, "location")) if t),
    )


def _echoed_query(element: etree._Element | None, reader: Reader) -> Iti55Query | None:
    """The echoed queryByParameter; a broken echo costs the echo, not the matches."""
    if element is None:
        reader.quirk("response without the echoed queryByParameter")
        return None
    try:
        return read_query(element, reader)
    except WireFormatError:
        reader.quirk("unreadable echoed queryByParameter")
        return None


def parse_iti55_response(data: bytes | etree._Element, *, echo: bool = True) -> Iti55Response:
    """Read a PRPA_IN201306UV02 answer (initiating side); no match and errors are values, not exceptions.

    ``echo=False`` leaves the echoed queryByParameter unread (``query`` is ``None``, and its quirks are not
    looked for): an initiating gateway holds the query it sent."""
    root = payload_root(data)
    check_root(root, "PRPA_IN201306UV02")
    reader = Reader()
    message_id, created, processing = read_header(root, reader)
    receiver = read_device(root, "receiver", reader)
    sender = read_device(root, "sender", reader)
    ack = child(root, "acknowledgement")
    ack_text = attr(child(ack, "typeCode"), "code")
    if ack_text is None:
        reader.quirk("response without acknowledgement typeCode")
    ack_code = _ack_code(ack_text, reader)
    control = require(root, "controlActProcess", "PRPA_IN201306UV02")
    query_ack = require(control, "queryAck", "controlActProcess")
    code_text = attr(child(query_ack, "queryResponseCode"), "code")
    if code_text is None:
        raise MissingElementError(
            "queryAck has no queryResponseCode", detail={"element": "queryResponseCode"}
        )
    try:
        response_code = QueryResponseCode(code_text.upper())
    except ValueError:
        raise InvalidValueError("unknown queryResponseCode", detail={"code": code_text}) from None
    if response_code != code_text:
        reader.quirk("lower-case queryResponseCode")
    matches = _matches(control, sender, reader)
    if response_code != QueryResponseCode.OK and matches:
        reader.quirk(f"matches with queryResponseCode {response_code}")
    if response_code == QueryResponseCode.OK and not matches:
        reader.quirk("queryResponseCode OK without a usable match")
    return Iti55Response(
        message_id=message_id,
        creation_time=created,
        sender=sender,
        receiver=receiver,
        ack_code=ack_code,
        query_response_code=response_code,
        target_message_id=reader.ii(path(ack, "targetMessage", "id"), "targetMessage id", uuid_ok=True),
        query_id=reader.ii(child(query_ack, "queryId"), "queryAck queryId", uuid_ok=True),
        matches=matches,
        query=_echoed_query(child(control, "queryByParameter"), reader) if echo else None,
        acknowledgement_details=tuple(_ack_detail(d, reader) for d in children(ack, "acknowledgementDetail"))
        if ack is not None
        else (),
        issues=tuple(
            _issue(e, reader)
            for r in children(control, "reasonOf")
            for e in children(r, "detectedIssueEvent")
        ),
        processing_code=processing,
        quirks=reader.quirks,
    )
