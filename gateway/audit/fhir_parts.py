"""Building blocks of the BALP AuditEvent: agents, entities and codings as plain dicts."""

from __future__ import annotations

import base64
from typing import Any

from gateway.audit.coding import DCM
from gateway.audit.events import ApiAccessEvent, TransactionEvent
from gateway.audit.model import AuditSource, Code, DocumentRef, PatientId, RemotePeer, Requestor

__all__ = [
    "api_entities",
    "client_agent",
    "coding",
    "concept",
    "document_entity",
    "gateway_agent",
    "job_entity",
    "patient_entity",
    "query_entity",
    "remote_agent",
    "role",
    "source",
    "transaction_entity",
    "user_agents",
]

_BALP_CS = "https://profiles.ihe.net/ITI/BALP/CodeSystem/"
_OTHER_ID = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/ihe-otherId"
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_NETWORK_URI, _NETWORK_IP = "5", "2"

Json = dict[str, Any]


def coding(code: Code) -> Json:
    out: Json = {"system": code.system, "code": code.code}
    if code.display:
        out["display"] = code.display
    return out


def concept(code: Code) -> Json:
    return {"coding": [coding(code)]}


def _oid(value: str) -> Json:
    return {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{value}"}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _details(pairs: dict[str, object]) -> list[Json]:
    return [{"type": name, "valueString": str(value)} for name, value in pairs.items() if value is not None]


def role(agent: Json, code: str, display: str) -> Json:
    return {"type": concept(Code(code=code, system=DCM, display=display)), **agent}


def gateway_agent(source: AuditSource, endpoint: str | None) -> Json:
    who: Json = {"display": source.site}
    if source.home_community_id:
        who["identifier"] = _oid(source.home_community_id)
    agent: Json = {"who": who, "requestor": False}
    if endpoint:
        agent["network"] = {"address": endpoint, "type": _NETWORK_URI}
    return agent


def remote_agent(remote: RemotePeer) -> Json:
    who: Json = {"display": remote.organization or remote.endpoint or remote.network_address or "unknown"}
    if remote.home_community_id:
        who["identifier"] = _oid(remote.home_community_id)
    agent: Json = {"who": who, "requestor": False}
    if remote.certificate_subject:
        agent["altId"] = remote.certificate_subject
    if remote.endpoint:
        agent["network"] = {"address": remote.endpoint, "type": _NETWORK_URI}
    elif remote.network_address:
        agent["network"] = {"address": remote.network_address, "type": _NETWORK_IP}
    return agent


def client_agent(address: str | None) -> Json:
    agent: Json = {"who": {"display": address or "unknown"}, "requestor": False}
    if address:
        agent["network"] = {"address": address, "type": _NETWORK_IP}
    return agent


def _other_id(code: str, system: str, value: str) -> Json:
    return {
        "url": _OTHER_ID,
        "valueIdentifier": {"type": {"coding": [{"system": system, "code": code}]}, "value": value},
    }


def user_agents(requestor: Requestor | None, *, api: bool = False) -> list[Json]:
    """The human requestor, their organization and their homeCommunityId, as BALP SAML agents."""
    if requestor is None:
        return []
    types = [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"}]
    if not api:
        types.append({"system": _BALP_CS + "UserAgentTypes", "code": "UserSamlAgent"})
    user: Json = {
        "type": {"coding": types},
        "who": {"identifier": {"value": requestor.user_id}},
        "requestor": True,
    }
    extensions = []
    if requestor.subject_id:
        user["name"] = requestor.subject_id
        extensions.append(
            _other_id("SAML-subject-id", _BALP_CS + "OtherIdentifierTypes", requestor.subject_id)
        )
    if requestor.npi:
        extensions.append(_other_id("NPI", "http://terminology.hl7.org/CodeSystem/v2-0203", requestor.npi))
    if extensions:
        user["extension"] = extensions
    if requestor.role:
        user["role"] = [concept(requestor.role)]
    if requestor.purpose_of_use:
        user["purposeOfUse"] = [concept(requestor.purpose_of_use)]
    if requestor.assertion_id:
        user["policy"] = [requestor.assertion_id]
    agents = [user]
    if requestor.organization_id or requestor.organization:
        who: Json = {"display": requestor.organization or requestor.organization_id}
        if requestor.organization_id:
            who["identifier"] = _oid(requestor.organization_id)
        provider = {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass", "code": "PROV"}
        agents.append({"type": {"coding": [provider]}, "who": who, "requestor": False})
    if requestor.home_community_id:
        home = {"system": "urn:ihe:iti:xca:2010", "code": "homeCommunityId"}
        agents.append(
            {
                "type": {"coding": [home]},
                "who": {"identifier": _oid(requestor.home_community_id)},
                "requestor": False,
            }
        )
    return agents


def _entity_type(code: str, display: str) -> Json:
    return {"system": _ENTITY_TYPE, "code": code, "display": display}


def _object_role(code: str, display: str) -> Json:
    return {"system": _OBJECT_ROLE, "code": code, "display": display}


def patient_entity(patient: PatientId) -> Json:
    identifier = {"system": f"urn:oid:{patient.assigning_authority}", "value": patient.value}
    return {
        "what": {"type": "Patient", "identifier": identifier},
        "type": _entity_type("1", "Person"),
        "role": _object_role("1", "Patient"),
        "description": f"{patient.role.value} patient identifier",
    }


def query_entity(event: TransactionEvent, home_community_id: str | None) -> Json:
    cleaned = "&".join(f"{p.name}={p.value}" for p in event.query_parameters)
    entity: Json = {
        "type": _entity_type("2", "System Object"),
        "role": _object_role("24", "Query"),
        "query": _b64(event.raw_query or cleaned),
    }
    if event.query_id:
        entity["name"] = event.query_id
    if cleaned:
        entity["description"] = cleaned
    details = _details({"ihe:homeCommunityID": home_community_id})
    if details:
        entity["detail"] = details
    return entity


def document_entity(document: DocumentRef) -> Json:
    entity: Json = {
        "what": {"identifier": {"value": document.unique_id}},
        "type": _entity_type("2", "System Object"),
        "role": _object_role("3", "Report"),
    }
    details = _details(
        {"Repository Unique Id": document.repository_id, "ihe:homeCommunityID": document.home_community_id}
    )
    if details:
        entity["detail"] = details
    return entity


def transaction_entity(
    message_id: str | None,
    relates_to: str | None,
    latency: int | None,
    sent: int | None,
    received: int | None,
) -> list[Json]:
    details = _details(
        {"relates-to": relates_to, "latency-ms": latency, "request-bytes": sent, "response-bytes": received}
    )
    if message_id is None and not details:
        return []
    entity: Json = {"type": {"system": _BALP_CS + "BasicAuditEntityType", "code": "XrequestId"}}
    if message_id:
        entity["what"] = {"identifier": {"value": message_id}}
    if details:
        entity["detail"] = details
    return [entity]


def job_entity(job_id: str, communities: tuple[str, ...], latency: int | None) -> list[Json]:
    details = [{"type": "community", "valueString": f"urn:oid:{community}"} for community in communities]
    details += _details({"latency-ms": latency})
    entity: Json = {
        "what": {"identifier": {"value": job_id}},
        "type": _entity_type("2", "System Object"),
        "role": _object_role("20", "Job"),
    }
    if details:
        entity["detail"] = details
    return [entity]


def api_entities(event: ApiAccessEvent) -> list[Json]:
    entities: list[Json] = []
    if event.resource_id:
        entities.append(
            {
                "what": {"reference": f"{event.resource_type}/{event.resource_id}"},
                "type": {"system": "http://hl7.org/fhir/resource-types", "code": event.resource_type},
                "role": _object_role("4", "Domain Resource"),
            }
        )
    if event.query:
        entities.append(
            {
                "type": _entity_type("2", "System Object"),
                "role": _object_role("24", "Query"),
                "query": _b64(event.query),
                "description": event.query,
            }
        )
    if event.job_id:
        entities += job_entity(event.job_id, (), None)
    entities += transaction_entity(event.request_id, None, event.latency_ms, None, event.response_bytes)
    return entities


def source(audit_source: AuditSource) -> Json:
    return {
        "site": audit_source.site,
        "observer": {"display": audit_source.source_id},
        "type": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                "code": "4",
                "display": "Application Server",
            }
        ],
    }
