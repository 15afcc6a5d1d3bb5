"""FHIR R4 AuditEvent per the IHE Basic Audit Log Patterns (BALP), and NDJSON export.

Agents follow BALP: the client as ``DCM#110153`` Source Role ID, the server as ``DCM#110152`` Destination
Role ID, the human as the SAML user agent (subject-id and NPI as ``ihe-otherId`` extensions, role,
purposeOfUse, the assertion ID as ``policy``), the user's organization and homeCommunityId as their own
agents. Entities: the patient (``audit-entity-type#1``/``object-role#1``), the query
(``#2``/``#24``, base64), documents (``#2``/``#3``), the message id as the transaction entity. Resources
are plain dicts serialized by orjson; tests validate them with ``fhir.resources``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

import orjson

from gateway.audit import fhir_parts as parts
from gateway.audit.codec import format_time
from gateway.audit.coding import classify
from gateway.audit.events import ApiAccessEvent, ApiInteraction, PullJobEvent, RefusalEvent, TransactionEvent
from gateway.audit.model import AuditSource, Direction, Outcome, Transaction
from gateway.audit.search import StoredRecord

__all__ = ["BALP", "to_fhir_audit_event", "write_ndjson"]

BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/"

_API_PROFILE = {
    ApiInteraction.READ: "Read",
    ApiInteraction.VREAD: "Read",
    ApiInteraction.SEARCH: "Query",
    ApiInteraction.OPERATION: "Query",
    ApiInteraction.CREATE: "Create",
    ApiInteraction.UPDATE: "Update",
    ApiInteraction.DELETE: "Delete",
}


def _profiles(record: StoredRecord) -> list[str]:
    event = record.event
    found: list[str] = []
    requestor = event.requestor
    if requestor is not None and requestor.assertion_id and not isinstance(event, ApiAccessEvent):
        found.append(BALP + "IHE.BasicAudit.SAMLaccessTokenUse.Comprehensive")
    if isinstance(event, ApiAccessEvent) and event.outcome is Outcome.SUCCESS and event.client_address:
        name = _API_PROFILE[event.interaction]
        if name != "Query" or event.query:  # BALP Query needs the query entity
            found.append(BALP + "IHE.BasicAudit." + ("Patient" if event.patients else "") + name)
    if (
        isinstance(event, TransactionEvent)
        and event.transaction is Transaction.ITI_39
        and event.patients
        and event.outcome <= Outcome.MINOR_FAILURE
    ):
        side = "Recipient" if event.direction is Direction.INITIATING else "Source"
        found.append(BALP + f"IHE.BasicAudit.PrivacyDisclosure.{side}")
    return found


def _transaction_parts(event: TransactionEvent, source: AuditSource) -> tuple[list[Any], list[Any]]:
    us = parts.gateway_agent(source, event.local_endpoint)
    them = parts.remote_agent(event.remote)
    client, server = (us, them) if event.direction is Direction.INITIATING else (them, us)
    agents = [
        parts.role(client, "110153", "Source Role ID"),
        parts.role(server, "110152", "Destination Role ID"),
    ]
    agents += parts.user_agents(event.requestor)
    entities = [parts.patient_entity(patient) for patient in event.patients]
    if event.transaction is not Transaction.ITI_39:
        entities.append(parts.query_entity(event, event.remote.home_community_id))
    entities += [parts.document_entity(document) for document in event.documents]
    entities += parts.transaction_entity(
        event.message_id, event.relates_to, event.latency_ms, event.request_bytes, event.response_bytes
    )
    if event.job_id:
        entities += parts.job_entity(event.job_id, (), None)
    return agents, entities


def _agents_entities(event: object, source: AuditSource) -> tuple[list[Any], list[Any]]:
    if isinstance(event, TransactionEvent):
        return _transaction_parts(event, source)
    us = parts.gateway_agent(source, None)
    if isinstance(event, RefusalEvent):
        them = parts.remote_agent(event.remote)
        client, server = (us, them) if event.direction is Direction.INITIATING else (them, us)
        agents = [
            parts.role(client, "110153", "Source Role ID"),
            parts.role(server, "110152", "Destination Role ID"),
        ]
        agents += parts.user_agents(event.requestor)
        entities = [parts.patient_entity(patient) for patient in event.patients]
        entities += parts.transaction_entity(event.message_id, None, None, event.request_bytes, None)
        return agents, entities
    if isinstance(event, PullJobEvent):
        agents = [parts.role(us, "110153", "Source Role ID"), *parts.user_agents(event.requestor)]
        entities = [parts.patient_entity(patient) for patient in event.patients]
        entities += [parts.document_entity(document) for document in event.documents]
        entities += parts.job_entity(event.job_id, event.communities, event.latency_ms)
        return agents, entities
    assert isinstance(event, ApiAccessEvent)
    client = parts.client_agent(event.client_address)
    server = parts.gateway_agent(source, event.server_endpoint)
    agents = [
        parts.role(client, "110153", "Source Role ID"),
        parts.role(server, "110152", "Destination Role ID"),
    ]
    agents += parts.user_agents(event.requestor, api=True)
    entities = [parts.patient_entity(patient) for patient in event.patients]
    entities += parts.api_entities(event)
    return agents, entities


def to_fhir_audit_event(record: StoredRecord, source: AuditSource) -> dict[str, Any]:
    """One stored record as an AuditEvent resource (a plain dict)."""
    event = record.event
    classification = classify(event)
    agents, entities = _agents_entities(event, source)
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"audit-{record.tenant_id}-{record.seq}",
        "type": parts.coding(classification.event_id),
        "subtype": [parts.coding(code) for code in classification.event_types],
        "action": classification.action.value,
        "recorded": format_time(record.recorded_at),
        "outcome": str(int(event.outcome)),
        "agent": agents,
        "source": parts.source(source),
    }
    profiles = _profiles(record)
    if profiles:
        resource["meta"] = {"profile": profiles}
    if event.occurred_at is not None:
        resource["period"] = {"start": format_time(event.occurred_at)}
    if event.error_codes:
        resource["outcomeDesc"] = " ".join(event.error_codes)
    requestor = event.requestor
    if requestor is not None and requestor.purpose_of_use is not None:
        resource["purposeOfEvent"] = [parts.concept(requestor.purpose_of_use)]
    if entities:
        resource["entity"] = entities
    return resource


def write_ndjson(records: Iterable[StoredRecord], out: IO[bytes], source: AuditSource) -> int:
    """Write one AuditEvent per line; returns how many."""
    count = 0
    for record in records:
        out.write(orjson.dumps(to_fhir_audit_event(record, source)) + b"\n")
        count += 1
    return count
