"""The files a sandbox writes for the initiating side: ``directory.json`` and ``patients.json``.

``directory.json`` is a FHIR R4 ``Bundle`` (type ``collection``) of ``Organization`` resources in the
Carequality directory form: the homeCommunityId as ``urn:oid:`` identifier (system ``urn:ietf:rfc:3986``),
name, address with the FHIR geolocation extension, and one contained ``Endpoint`` per transaction (connection
type ``ihe-xcpd`` for ITI-55, ``ihe-xca`` for ITI-38 and ITI-39; the Sequoia "Transaction" extension names
which), referenced from ``Organization.endpoint``.

``patients.json`` lists the persons to try, each with what a complete pull must find:
``expected.gateways`` (every community holding a record of the person, faulty ones included) and
``expected.documents`` (documents at *healthy* gateways only: no fault; latency alone is healthy).
``expected.by_gateway`` details each community: its label, fault, document count and ``retrievable`` —
the documents ITI-39 actually returns there (all at a healthy gateway; at a ``partial-retrieve`` gateway
every second document of each patient (0-based positions 1, 3, ...) is withheld; 0 where the fault stops the
exchange before the retrieve). ``decoys.json`` has the same shape for the decoys, with ``kind`` and
``decoy_of``: querying a person must never return their decoy's records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from gateway.audit import Transaction
from gateway.responding import RespondingConfig
from gateway.sandbox.plan import GatewayPlan
from gateway.sandbox.population import Person, person_json
from gateway.sandbox.specs import FaultMode

__all__ = [
    "CONNECTION_TYPE_SYSTEM",
    "TRANSACTION_EXTENSION",
    "directory_bundle",
    "expected_json",
    "write_json",
]

CONNECTION_TYPE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
TRANSACTION_EXTENSION: Final = "https://sequoiaproject.org/fhir/sphd/StructureDefinition/Transaction"
GEOLOCATION: Final = "http://hl7.org/fhir/StructureDefinition/geolocation"
_ENDPOINTS: Final = (
    (Transaction.ITI_55, "iti55", "ihe-xcpd", "XCPD ITI-55"),
    (Transaction.ITI_38, "iti38", "ihe-xca", "XCA ITI-38"),
    (Transaction.ITI_39, "iti39", "ihe-xca", "XCA ITI-39"),
)
# Faults that end the exchange before any document arrives (at ITI-55, or for every transaction).
_NOTHING_RETRIEVED: Final = frozenset(FaultMode) - {FaultMode.PARTIAL_RETRIEVE}


def _organization(plan: GatewayPlan, config: RespondingConfig) -> dict[str, Any]:
    place = plan.place
    endpoints = []
    for transaction, suffix, code, name in _ENDPOINTS:
        endpoints.append(
            {
                "resourceType": "Endpoint",
                "id": f"{plan.label}-{suffix}",
                "status": "active",
                "connectionType": {"system": CONNECTION_TYPE_SYSTEM, "code": code},
                "name": f"{plan.organization_name} {name}",
                "address": config.endpoint_url(transaction),
                "payloadType": [{"text": "any"}],
                "extension": [{"url": TRANSACTION_EXTENSION, "valueString": name}],
            }
        )
    return {
        "resourceType": "Organization",
        "id": plan.label,
        "contained": endpoints,
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{plan.home_community_id}"}],
        "active": True,
        "name": plan.organization_name,
        "telecom": [{"system": "phone", "value": plan.telecom.removeprefix("tel:"), "use": "work"}],
        "address": [
            {
                "use": "work",
                "line": [place.street],
                "city": place.city,
                "state": place.state,
                "postalCode": place.town.postal_code,
                "country": "US",
                "extension": [
                    {
                        "url": GEOLOCATION,
                        "extension": [
                            {"url": "latitude", "valueDecimal": place.latitude},
                            {"url": "longitude", "valueDecimal": place.longitude},
                        ],
                    }
                ],
            }
        ],
        "endpoint": [{"reference": f"#{e['id']}"} for e in endpoints],
    }


def directory_bundle(plans: Sequence[GatewayPlan], configs: Sequence[RespondingConfig]) -> dict[str, Any]:
    """The FHIR R4 ``Bundle`` of every gateway's ``Organization``."""
    return {
        "resourceType": "Bundle",
        "id": "hiegate-sandbox-directory",
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:oid:{plan.home_community_id}", "resource": _organization(plan, config)}
            for plan, config in zip(plans, configs, strict=True)
        ],
    }


def retrievable(plan: GatewayPlan, documents: int) -> int:
    """How many of ``documents`` one patient's complete pull gets from ``plan``'s gateway."""
    if plan.fault is None:
        return documents
    if plan.fault is FaultMode.PARTIAL_RETRIEVE:
        return (documents + 1) // 2
    assert plan.fault in _NOTHING_RETRIEVED
    return 0


def _fault_name(plan: GatewayPlan) -> str | None:
    return plan.fault.value if plan.fault is not None else None


def expected_json(person: Person, held: Mapping[int, int], plans: Sequence[GatewayPlan]) -> dict[str, Any]:
    """``person`` as ``patients.json`` lists them; ``held`` maps gateway index → documents held there."""
    entry = person_json(person)
    by_gateway = {
        plans[g].home_community_id: {
            "label": plans[g].label,
            "fault": _fault_name(plans[g]),
            "documents": count,
            "retrievable": retrievable(plans[g], count),
        }
        for g, count in sorted(held.items())
    }
    entry["expected"] = {
        "gateways": list(by_gateway),
        "documents": sum(count for g, count in held.items() if plans[g].healthy),
        "by_gateway": by_gateway,
    }
    return entry


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
