"""Responding to Cross Gateway Patient Discovery [ITI-55] (IHE ITI TF-2b 3.55.4.2): match the query against
the clinic's patients and answer OK (one match), NF (no match, or more attributes requested) or an error.

Deferred queries (priority D) are answered AE AnswerNotAvailable: this gateway answers immediately only. A
query without a livingSubjectId or without name and birth time is a query error (AE ack, QE).
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from gateway.audit import (
    Direction,
    Outcome,
    PatientId,
    PatientIdRole,
    QueryParameter,
    Transaction,
    TransactionEvent,
)
from gateway.matching import Ambiguous, Match, decide, normalize_demographics
from gateway.responding.context import Exchange, Handled
from gateway.responding.patients import LocalPatient, match_candidates
from xca.iti55 import (
    AckCode,
    AcknowledgementDetail,
    Demographics,
    Device,
    ErrorCode,
    Ii,
    Iti55Request,
    Iti55Response,
    PatientMatch,
    QueryResponseCode,
    ResponsePriority,
    build_iti55_response,
    iti55_response_for,
    parse_iti55_request,
)

__all__ = ["handle_iti55"]


def _query_parameters(demo: Demographics) -> tuple[QueryParameter, ...]:
    params: list[QueryParameter] = []
    for name in demo.names:
        value = "^".join([name.family or "", *name.given]) or (name.text or "")
        params.append(QueryParameter(name="livingSubjectName", value=value))
    if demo.gender is not None:
        params.append(QueryParameter(name="livingSubjectAdministrativeGender", value=demo.gender.value))
    birth = demo.birth_date.strftime("%Y%m%d") if demo.birth_date else None
    birth = birth or (demo.birth_date_partial.to_ts() if demo.birth_date_partial else demo.birth_date_raw)
    if birth:
        params.append(QueryParameter(name="livingSubjectBirthTime", value=birth))
    for ident in demo.identifiers:
        params.append(
            QueryParameter(name="livingSubjectId", value=f"{ident.extension or ''}^^^&{ident.root}&ISO")
        )
    for address in demo.addresses:
        params.append(QueryParameter(name="patientAddress", value=address.postal_code or address.city or "?"))
    for telecom in demo.telecoms:
        params.append(QueryParameter(name="patientTelecom", value=telecom.value))
    return tuple(params)


def _query_error(request: Iti55Request, responder: Device, x: Exchange, text: str) -> Iti55Response:
    base = iti55_response_for(
        request, message_id=Ii(str(uuid.uuid4())), creation_time=x.now, responder=responder
    )
    return replace(
        base,
        ack_code=AckCode.AE,
        query_response_code=QueryResponseCode.QE,
        acknowledgement_details=(AcknowledgementDetail(text=text, type_code="E"),),
    )


def _match_data(patient: LocalPatient) -> Demographics:
    """What we disclose about a matched patient: no other identifiers (SSN), only demographics."""
    demo = patient.demographics
    return Demographics(
        names=demo.names,
        gender=demo.gender,
        birth_date=demo.birth_date,
        addresses=demo.addresses,
        telecoms=demo.telecoms,
    )


def handle_iti55(x: Exchange) -> Handled:
    """Answer one verified ITI-55 query."""
    assert x.verified.body is not None  # the pipeline checked
    request = parse_iti55_request(x.verified.body)
    config = x.config
    responder = Device(config.device_id, config.home_community_id, config.endpoint_url(Transaction.ITI_55))
    message_id = Ii(str(uuid.uuid4()))
    demo = request.query.demographics
    patients: tuple[PatientId, ...] = ()
    outcome = Outcome.SUCCESS
    error_codes: tuple[str, ...] = ()
    if request.query.priority == ResponsePriority.DEFERRED:
        response = iti55_response_for(
            request,
            message_id=message_id,
            creation_time=x.now,
            responder=responder,
            error=ErrorCode.ANSWER_NOT_AVAILABLE,
            error_text="deferred (priority D) queries are not supported; ask with priority I",
        )
        outcome, error_codes = Outcome.SERIOUS_FAILURE, (ErrorCode.ANSWER_NOT_AVAILABLE.value,)
    elif not demo.has_minimum_criteria:
        text = "the query needs a livingSubjectId, or a livingSubjectName with a livingSubjectBirthTime"
        response = _query_error(request, responder, x, text)
        outcome, error_codes = Outcome.SERIOUS_FAILURE, ("QE",)
    else:
        person = normalize_demographics(demo)
        identifiers = [(i.root, i.extension) for i in demo.identifiers if i.extension]
        candidates = (
            match_candidates(
                x.session,
                x.tenant,
                person,
                assigning_authority=config.assigning_authority,
                identifiers=identifiers,
                limit=config.matching.max_candidates,
            )
            if config.patient_discovery
            else []
        )
        result = decide(person, candidates, config.matching, minimum_score=request.query.minimum_degree_match)
        matches: tuple[PatientMatch, ...] = ()
        requested = result.requested if isinstance(result, Ambiguous) else ()
        if isinstance(result, Match):
            local = result.ref
            matches = (
                PatientMatch(
                    patient_id=Ii(local.cx.root, local.cx.id),
                    home_community_id=config.home_community_id,
                    demographics=_match_data(local),
                    score=result.score,
                ),
            )
            patients = (
                PatientId(value=local.cx.id, assigning_authority=local.cx.root, role=PatientIdRole.LOCAL),
            )
        response = iti55_response_for(
            request,
            message_id=message_id,
            creation_time=x.now,
            responder=responder,
            matches=matches,
            requested_attributes=requested,
        )
    query_id = request.query.query_id
    event = TransactionEvent(
        transaction=Transaction.ITI_55,
        direction=Direction.RESPONDING,
        outcome=outcome,
        requestor=x.requestor,
        remote=x.remote,
        error_codes=error_codes,
        patients=patients,
        query_id=f"{query_id.extension}@{query_id.root}" if query_id.extension else query_id.root,
        query_parameters=_query_parameters(demo),
        raw_query=request.query.raw.decode("utf-8", "replace") if request.query.raw else None,
        message_id=x.verified.addressing.message_id,
        local_endpoint=x.request.endpoint,
    )
    return Handled(body=build_iti55_response(response), event=event)
