"""Audit events as the initiating and responding gateways, the pull worker and the API will report them."""

from __future__ import annotations

import datetime as dt

from gateway.audit import (
    ApiAccessEvent,
    ApiInteraction,
    AuditEvent,
    AuditSource,
    Code,
    Direction,
    DocumentRef,
    Outcome,
    PatientId,
    PatientIdRole,
    PullJobEvent,
    PullStage,
    QueryParameter,
    RefusalEvent,
    RefusalReason,
    RemotePeer,
    Requestor,
    Transaction,
    TransactionEvent,
)

OUR_COMMUNITY = "2.16.840.1.113883.3.9999.1"
OUR_AUTHORITY = "2.16.840.1.113883.3.9999.1.2"
REMOTE_COMMUNITY = "1.3.6.1.4.1.21367.13.20.1000"
REMOTE_AUTHORITY = "1.3.6.1.4.1.21367.13.20.1000.1"
REMOTE_ENDPOINT = "https://gw.example.org/xcpd/iti55"
# Distinctive values so the PHI tests can look for them anywhere they must not be.
LOCAL_MRN = "MRN-7731-SECRET"
REMOTE_MRN = "RMT-4410-SECRET"
FAMILY_NAME = "Zyxwvut"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)

SOURCE = AuditSource(source_id=OUR_COMMUNITY, site="Test Clinic", home_community_id=OUR_COMMUNITY)
LOCAL = PatientId(value=LOCAL_MRN, assigning_authority=OUR_AUTHORITY, role=PatientIdRole.LOCAL)
REMOTE = PatientId(value=REMOTE_MRN, assigning_authority=REMOTE_AUTHORITY, role=PatientIdRole.REMOTE)
TREATMENT = Code(code="TREATMENT", system="2.16.840.1.113883.3.18.7.1", display="Treatment")
PHYSICIAN = Code(code="112247003", system="2.16.840.1.113883.6.96", display="Medical doctor")


def requestor(user_id: str = "dr.house", organization_id: str = "2.16.840.1.113883.3.9999") -> Requestor:
    return Requestor(
        user_id=user_id,
        subject_id="Gregory House",
        assertion_id="_a1b2c3",
        npi="1234567893",
        role=PHYSICIAN,
        organization="Test Clinic",
        organization_id=organization_id,
        home_community_id=OUR_COMMUNITY,
        purpose_of_use=TREATMENT,
    )


def remote(community: str = REMOTE_COMMUNITY) -> RemotePeer:
    return RemotePeer(
        home_community_id=community,
        endpoint=REMOTE_ENDPOINT,
        certificate_subject="CN=gw.example.org,O=Example HIE",
        organization="Example HIE",
    )


def iti55(direction: Direction = Direction.INITIATING, **changes: object) -> TransactionEvent:
    fields: dict[str, object] = {
        "transaction": Transaction.ITI_55,
        "direction": direction,
        "outcome": Outcome.SUCCESS,
        "requestor": requestor(),
        "remote": remote(),
        "patients": (LOCAL, REMOTE),
        "query_id": "1523963781490@1.3.6.1.4.1.21367.2011.2.6.181",
        "query_parameters": (
            QueryParameter(name="livingSubjectName", value=f"{FAMILY_NAME}^Pat"),
            QueryParameter(name="livingSubjectBirthTime", value="19770706"),
        ),
        "raw_query": f"<queryByParameter><family>{FAMILY_NAME}</family></queryByParameter>",
        "message_id": "urn:uuid:0f0e0d0c-0000-4000-8000-000000000055",
        "relates_to": None,
        "local_endpoint": "https://clinic.example.com/xcpd",
        "latency_ms": 412,
        "request_bytes": 3100,
        "response_bytes": 5200,
        "occurred_at": T0,
    }
    fields.update(changes)
    return TransactionEvent(**fields)  # type: ignore[arg-type]


def iti38(direction: Direction = Direction.INITIATING, **changes: object) -> TransactionEvent:
    base = {
        "transaction": Transaction.ITI_38,
        "query_id": "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d",
        "query_parameters": (
            QueryParameter(name="$XDSDocumentEntryPatientId", value=REMOTE.cx),
            QueryParameter(
                name="$XDSDocumentEntryStatus", value="urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
            ),
        ),
        "raw_query": None,
        "documents": (
            DocumentRef(
                unique_id="1.2.3.4.100", repository_id="1.2.3.4.9", home_community_id=REMOTE_COMMUNITY
            ),
        ),
        "relates_to": "urn:uuid:0f0e0d0c-0000-4000-8000-000000000038"
        if direction is Direction.RESPONDING
        else None,
    }
    return iti55(direction, **(base | changes))


def iti39(direction: Direction = Direction.INITIATING, **changes: object) -> TransactionEvent:
    base = {
        "transaction": Transaction.ITI_39,
        "query_id": None,
        "query_parameters": (),
        "raw_query": None,
        "documents": (
            DocumentRef(
                unique_id="1.2.3.4.100", repository_id="1.2.3.4.9", home_community_id=REMOTE_COMMUNITY
            ),
            DocumentRef(
                unique_id="1.2.3.4.101", repository_id="1.2.3.4.9", home_community_id=REMOTE_COMMUNITY
            ),
        ),
    }
    return iti55(direction, **(base | changes))


def refusal(reason: RefusalReason = RefusalReason.BAD_SIGNATURE, **changes: object) -> RefusalEvent:
    fields: dict[str, object] = {
        "reason": reason,
        "direction": Direction.RESPONDING,
        "remote": RemotePeer(network_address="127.0.0.1", certificate_subject="CN=intruder"),
        "transaction": Transaction.ITI_55,
        "error_codes": ("HG-3106",),
        "message_id": "urn:uuid:0f0e0d0c-0000-4000-8000-00000000dead",
        "detail": "SignatureValue does not verify",
        "occurred_at": T0,
    }
    fields.update(changes)
    return RefusalEvent(**fields)  # type: ignore[arg-type]


def pull_job(stage: PullStage = PullStage.COMPLETED, **changes: object) -> PullJobEvent:
    fields: dict[str, object] = {
        "job_id": "job-0001",
        "stage": stage,
        "outcome": Outcome.SUCCESS,
        "requestor": requestor(),
        "patients": (LOCAL,),
        "communities": (REMOTE_COMMUNITY,),
        "documents": (DocumentRef(unique_id="1.2.3.4.100", repository_id="1.2.3.4.9"),),
        "latency_ms": 2300,
        "occurred_at": T0,
    }
    fields.update(changes)
    return PullJobEvent(**fields)  # type: ignore[arg-type]


def api_access(interaction: ApiInteraction = ApiInteraction.SEARCH, **changes: object) -> ApiAccessEvent:
    fields: dict[str, object] = {
        "interaction": interaction,
        "resource_type": "Observation",
        "outcome": Outcome.SUCCESS,
        "requestor": Requestor(
            user_id="app-user-7", subject_id="Nurse Joy", organization_id="2.16.840.1.113883.3.9999"
        ),
        "http_status": 200,
        "patients": (LOCAL,),
        "resource_id": "obs-1" if interaction is not ApiInteraction.SEARCH else None,
        "query": f"patient={LOCAL_MRN}&category=laboratory" if interaction is ApiInteraction.SEARCH else None,
        "client_address": "192.0.2.10",
        "server_endpoint": "https://clinic.example.com/fhir",
        "request_id": "req-42",
        "latency_ms": 35,
        "response_bytes": 2048,
        "occurred_at": T0,
    }
    fields.update(changes)
    return ApiAccessEvent(**fields)  # type: ignore[arg-type]


def every_path() -> dict[str, AuditEvent]:
    """One event per path the gateway reports, keyed by a readable id."""
    paths: dict[str, AuditEvent] = {}
    for build in (iti55, iti38, iti39):
        for direction in Direction:
            event = build(direction)
            paths[f"{event.transaction.value}-{direction.value}"] = event
    for reason in RefusalReason:
        paths[f"refusal-{reason.value}"] = refusal(reason)
    for stage in PullStage:
        outcome = {PullStage.FAILED: Outcome.MAJOR_FAILURE, PullStage.CANCELLED: Outcome.MINOR_FAILURE}.get(
            stage, Outcome.SUCCESS
        )
        paths[f"pull-{stage.value}"] = pull_job(stage, outcome=outcome)
    for interaction in ApiInteraction:
        paths[f"api-{interaction.value}"] = api_access(interaction)
    return paths
