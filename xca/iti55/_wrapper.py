"""The HL7 v3 transmission wrapper and ``queryByParameter`` shared by both ITI-55 messages
(IHE ITI TF-2b 3.55.4.1.2 and 3.55.4.2.2; MCCI_MT000100UV01, MCCI_MT000300UV01, PRPA_MT201306UV02).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import replace
from datetime import datetime
from typing import Final

from lxml import etree

from xca import ns
from xca.errors import InvalidValueError, MissingElementError, UnexpectedMessageError
from xca.iti55._demographics import build_parameter_list, check_demographics, read_parameter_list
from xca.iti55._hl7 import (
    XSI_TYPE,
    Reader,
    attr,
    child,
    format_ts,
    hl7,
    path,
    require,
    require_ii,
    require_oid,
    sub,
    sub_ii,
    sub_text,
)
from xca.iti55.models import Demographics, Device, Ii, Iti55Query, ProcessingCode, ResponsePriority
from xca.safexml import parse_xml

INTERACTION_ROOT: Final = "2.16.840.1.113883.1.6"
# Children the schema allows (PRPA_MT201306UV02.QueryByParameter / .ParameterList, with the infrastructure
# elements): a received query holding anything else is echoed from the model, so the response stays valid.
_INFRASTRUCTURE: Final = "realmCode typeId templateId "
_QUERY_CHILDREN: Final = frozenset(
    hl7(name)
    for name in (
        _INFRASTRUCTURE + "queryId statusCode modifyCode responseElementGroupId responseModalityCode "
        "responsePriorityCode initialQuantity initialQuantityCode executionAndDeliveryTime "
        "matchCriterionList parameterList sortControl"
    ).split()
)
_PARAMETERS: Final = frozenset(
    hl7(name)
    for name in (
        _INFRASTRUCTURE + "id livingSubjectAdministrativeGender livingSubjectBirthPlaceAddress "
        "livingSubjectBirthPlaceName livingSubjectBirthTime livingSubjectDeceasedTime livingSubjectId "
        "livingSubjectName mothersMaidenName otherIDsScopingOrganization patientAddress patientStatusCode "
        "patientTelecom principalCareProviderId principalCareProvisionId"
    ).split()
)


def new_root(interaction: str) -> etree._Element:
    return etree.Element(hl7(interaction), {"ITSVersion": "XML_1.0"}, nsmap={None: ns.HL7V3, "xsi": ns.XSI})


def build_header(
    root: etree._Element,
    *,
    interaction: str,
    message_id: Ii,
    creation_time: datetime | None,
    processing_code: ProcessingCode,
    accept_ack: str,
) -> None:
    """``id`` through ``acceptAckCode`` of the message wrapper."""
    if creation_time is None:
        raise InvalidValueError("a message needs a creation time (creationTime)")
    sub_ii(root, "id", require_ii(message_id, "message id", uuid_ok=True))
    sub(root, "creationTime", {"value": format_ts(creation_time)})
    sub(root, "interactionId", {"root": INTERACTION_ROOT, "extension": interaction})
    sub(root, "processingCode", {"code": ProcessingCode(processing_code).value})
    sub(root, "processingModeCode", {"code": "T"})
    sub(root, "acceptAckCode", {"code": accept_ack})


def build_device(
    root: etree._Element, local: str, type_code: str, device: Device, *, hcid_required: bool
) -> None:
    """``receiver`` or ``sender``: the device and, in asAgent, the community it acts for. Copied from the one
    built for the same device before (a gateway sends to the same devices again and again)."""
    if hcid_required and device.home_community_id is None:
        raise InvalidValueError(f"the {local} needs a homeCommunityId", detail={"what": local})
    try:
        template = _device(etree.QName(root).localname, local, type_code, device)
    except TypeError:  # unhashable values where strings belong: built afresh, and refused there
        _write_device(root, local, type_code, device)
    else:
        root.append(copy.deepcopy(template))


@functools.lru_cache(maxsize=1024)
def _device(interaction: str, local: str, type_code: str, device: Device) -> etree._Element:
    """A ``receiver`` or ``sender`` built under a root of the same message type (so that its namespace
    declarations are the ones it is copied into)."""
    return _write_device(new_root(interaction), local, type_code, device)


def _write_device(root: etree._Element, local: str, type_code: str, device: Device) -> etree._Element:
    holder = sub(root, local, {"typeCode": type_code})
    element = sub(holder, "device", {"classCode": "DEV", "determinerCode": "INSTANCE"})
    sub(element, "id", {"root": require_oid(device.device_id, f"{local} device id")})
    if device.telecom is not None:
        sub(element, "telecom", {"value": device.telecom})
    if device.home_community_id is not None:
        agent = sub(element, "asAgent", {"classCode": "AGNT"})
        org = sub(agent, "representedOrganization", {"classCode": "ORG", "determinerCode": "INSTANCE"})
        sub(org, "id", {"root": require_oid(device.home_community_id, f"{local} homeCommunityId")})
    return holder


def build_query(parent: etree._Element, query: Iti55Query, *, strict: bool) -> None:
    """``queryByParameter``; ``strict`` is off for the response's echo of a peer's query, which copies
    the received element (``query.raw``) verbatim when there is one.

    A request's query (``strict``) is copied from one built for the same demographics, priority and degree
    of match before, only its queryId set anew: a pull sends the same query to every gateway."""
    if strict:
        require_ii(query.query_id, "query id", uuid_ok=True)
        try:
            template = _request_query(query.demographics, query.priority, query.minimum_degree_match)
        except TypeError:  # unhashable demographics (a list where a tuple belongs): built afresh
            check_demographics(query.demographics, query=True)
        else:
            element = copy.deepcopy(template)
            query_id = element[0]
            query_id.set("root", query.query_id.root)
            if query.query_id.extension is not None:
                query_id.set("extension", query.query_id.extension)
            parent.append(element)
            return
    elif query.raw is not None:
        parent.append(_echo(query.raw))
        return
    _write_query(parent, query)


@functools.lru_cache(maxsize=64)
def _request_query(
    demographics: Demographics, priority: ResponsePriority, minimum_degree_match: int | None
) -> etree._Element:
    """A request's ``queryByParameter`` with an empty queryId root, built under a request's root so that its
    namespace declarations are the ones it is copied into (lxml then drops them as redundant)."""
    check_demographics(demographics, query=True)
    holder = new_root("PRPA_IN201305UV02")
    return _write_query(holder, Iti55Query(Ii(""), demographics, priority, minimum_degree_match))


def _write_query(parent: etree._Element, query: Iti55Query) -> etree._Element:
    element = sub(parent, "queryByParameter")
    sub_ii(element, "queryId", query.query_id)
    sub(element, "statusCode", {"code": "new"})
    sub(element, "responseModalityCode", {"code": "R"})
    sub(element, "responsePriorityCode", {"code": ResponsePriority(query.priority).value})
    if query.minimum_degree_match is not None:
        if not 0 <= query.minimum_degree_match <= 100:
            raise InvalidValueError("minimum degree of match must be between 0 and 100")
        criteria = sub(element, "matchCriterionList")
        minimum = sub(criteria, "minimumDegreeMatch")
        sub(minimum, "value", {XSI_TYPE: "INT", "value": str(query.minimum_degree_match)})
        sub_text(minimum, "semanticsText", "Degree of match requested")
    build_parameter_list(element, query.demographics)
    return element


def _echo(raw: bytes) -> etree._Element:
    element = parse_xml(raw)
    if element.tag != hl7("queryByParameter"):
        raise InvalidValueError("the raw query to echo is not an HL7 v3 queryByParameter")
    return element


# --- reading --------------------------------------------------------------------------------------------


def check_root(element: etree._Element, interaction: str) -> None:
    if element.tag != hl7(interaction):
        qname = etree.QName(element)
        raise UnexpectedMessageError(
            f"expected an HL7 v3 {interaction} message",
            detail={"root": qname.localname, "namespace": qname.namespace},
        )


def read_header(root: etree._Element, reader: Reader) -> tuple[Ii, datetime | None, ProcessingCode]:
    """Message id (required), creation time (``None`` with a quirk when absent or unreadable), processing."""
    message_id = reader.ii(child(root, "id"), "message id", uuid_ok=True)
    if message_id is None:
        raise MissingElementError("message has no id", detail={"element": "id"})
    created_text = attr(child(root, "creationTime"), "value")
    if created_text is None:
        reader.quirk("message without creationTime")
    created = reader.ts(created_text, "creationTime")
    code = attr(child(root, "processingCode"), "code")
    try:
        processing = ProcessingCode(code or "P")
    except ValueError:
        reader.quirk("unknown processingCode")
        processing = ProcessingCode.PRODUCTION
    return message_id, created, processing


def read_device(root: etree._Element, local: str, reader: Reader) -> Device:
    device = path(root, local, "device")
    if device is None:
        raise MissingElementError(f"message has no {local}/device", detail={"element": f"{local}/device"})
    device_id = reader.oid(attr(child(device, "id"), "root"), f"{local} device id")
    if device_id is None:
        reader.quirk(f"{local} device without a usable id")
    hcid_el = path(device, "asAgent", "representedOrganization", "id")
    return Device(
        device_id=device_id or "",
        home_community_id=reader.oid(attr(hcid_el, "root"), f"{local} homeCommunityId"),
        telecom=attr(child(device, "telecom"), "value"),
    )


def read_query(element: etree._Element, reader: Reader) -> Iti55Query:
    """The query model, with the element kept verbatim in ``raw`` when the read was clean.

    A query whose reading needed a repair (see the quirks), or holding elements the schema does not allow,
    gets ``raw=None``: it is echoed from the model, valid but without what the model does not carry.
    """
    own = Reader()
    query = _read_query(element, own)
    reader.absorb(own)
    if own.quirks:
        return query
    if not _schema_shaped(element):
        reader.quirk("queryByParameter with elements outside the schema; not kept verbatim")
        return query
    return replace(query, raw=etree.tostring(element, with_tail=False))


def _schema_shaped(element: etree._Element) -> bool:
    parameters = child(element, "parameterList")
    return parameters is not None and _known(element, _QUERY_CHILDREN) and _known(parameters, _PARAMETERS)


def _known(parent: etree._Element, tags: frozenset[str]) -> bool:
    return all(c.tag in tags for c in parent if isinstance(c.tag, str))


def _read_query(element: etree._Element, reader: Reader) -> Iti55Query:
    query_id = reader.ii(child(element, "queryId"), "queryId", uuid_ok=True)
    if query_id is None:
        raise MissingElementError("queryByParameter has no queryId", detail={"element": "queryId"})
    parameters = require(element, "parameterList", "queryByParameter")
    priority_code = attr(child(element, "responsePriorityCode"), "code")
    try:
        priority = ResponsePriority(priority_code or "I")
    except ValueError:
        reader.quirk("unknown responsePriorityCode")
        priority = ResponsePriority.IMMEDIATE
    minimum_el = path(element, "matchCriterionList", "minimumDegreeMatch", "value")
    minimum = attr(minimum_el, "value")
    minimum_value: int | None = None
    if minimum is not None:
        try:
            minimum_value = int(minimum)
        except ValueError:
            reader.quirk("unreadable minimumDegreeMatch")
        if minimum_value is not None and not 0 <= minimum_value <= 100:
            # Kept out of the model: the response's echo must stay buildable.
            reader.quirk("minimumDegreeMatch outside 0-100 dropped")
            minimum_value = None
    demographics = read_parameter_list(parameters, reader)
    return Iti55Query(query_id, demographics, priority, minimum_value)
