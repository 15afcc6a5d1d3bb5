"""``GET /metadata``: the CapabilityStatement, generated from the routes the app actually registered.

Each FHIR route declares a :class:`~fhir_facade.api.routing.FhirEndpoint`; this module groups them by
resource type into interactions, search parameters and operations, so the statement stays true as routes
are added or removed. Security: SMART on FHIR, with the token endpoint as the ``oauth-uris`` extension.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import FastAPI

from fhir_facade.api.routing import FhirEndpoint, Interaction, registered_endpoints

__all__ = ["capability_statement"]

_SOFTWARE = "hie-gateway"
_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def _security(token_url: str) -> dict[str, Any]:
    return {
        "extension": [{"url": _OAUTH_URIS, "extension": [{"url": "token", "valueUri": token_url}]}],
        "cors": False,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ],
                "text": "SMART Backend Services (client_credentials, private_key_jwt RS384/ES384); "
                "development API keys when enabled",
            }
        ],
        "description": "Bearer access tokens from POST /auth/token; scopes system/Patient.read|rs|c, "
        "system/*.read, system/AuditEvent.read, system/Patient.$pull",
    }


def _resource(resource_type: str, endpoints: list[FhirEndpoint]) -> dict[str, Any]:
    interactions = sorted(
        {e.interaction.value for e in endpoints if e.interaction is not Interaction.OPERATION}
    )
    resource: dict[str, Any] = {"type": resource_type}
    if interactions:
        resource["interaction"] = [
            {
                "code": code,
                "documentation": next(e.documentation for e in endpoints if e.interaction.value == code),
            }
            for code in interactions
        ]
    # A type with vread keeps meta.versionId (its resources have one version, never updated): "versioned";
    # with no earlier versions to read, readHistory stays false.
    vread = any(e.interaction is Interaction.VREAD for e in endpoints)
    resource["versioning"] = "versioned" if vread else "no-version"
    resource["readHistory"] = False
    resource["updateCreate"] = False
    if any(e.conditional_create for e in endpoints):
        resource["conditionalCreate"] = True
    params: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        if endpoint.interaction is Interaction.SEARCH_TYPE:
            for param in endpoint.search_params:
                params.setdefault(
                    param.name,
                    {"name": param.name, "type": param.type.value, "documentation": param.documentation},
                )
    if params:
        resource["searchParam"] = list(params.values())
    operations = [
        {
            "name": e.operation.name,
            "definition": e.operation.definition,
            "documentation": e.operation.documentation,
        }
        for e in endpoints
        if e.operation is not None
    ]
    if operations:
        resource["operation"] = operations
    return resource


def capability_statement(
    app: FastAPI, *, base_url: str, token_url: str, version: str, date: str
) -> dict[str, Any]:
    """The server's CapabilityStatement (FHIR R4, JSON), from ``app``'s registered FHIR routes."""
    by_type: dict[str, list[FhirEndpoint]] = defaultdict(list)
    system_operations: list[FhirEndpoint] = []
    for _route, endpoint in registered_endpoints(app):
        if endpoint.resource_type is None:
            system_operations.append(endpoint)
        else:
            by_type[endpoint.resource_type].append(endpoint)
    rest: dict[str, Any] = {
        "mode": "server",
        "documentation": "Errors are OperationOutcomes; unknown search parameters are refused (400) unless "
        "'Prefer: handling=lenient' is sent",
        "security": _security(token_url),
        "resource": [_resource(name, by_type[name]) for name in sorted(by_type)],
    }
    operations = [
        {"name": e.operation.name, "definition": e.operation.definition}
        for e in system_operations
        if e.operation is not None
    ]
    if operations:
        rest["operation"] = operations
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": _SOFTWARE,
        "kind": "instance",
        "software": {"name": _SOFTWARE, "version": version},
        "implementation": {"description": "hie-gateway FHIR facade", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [rest],
    }
