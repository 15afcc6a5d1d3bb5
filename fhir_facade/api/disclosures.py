"""The accounting of disclosures (``gateway.audit.accounting_of_disclosures``) as a FHIR ``Parameters``.

One ``disclosure`` parameter per exchange, oldest first, with parts: ``when``, ``direction`` (sent-to |
received-from), ``transaction`` (IHE event type), ``remoteCommunity``, ``remoteOrganization``,
``requestingUser``, ``requestingOrganization``, ``purposeOfUse``, ``document`` (repeated), ``outcome`` and
``auditEvent`` (the AuditEvent id it comes from).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.audit import Disclosure
from gateway.audit.codec import format_time
from xca.ids import is_oid

__all__ = ["disclosures_parameters"]

_EVENT_TYPE = "urn:ihe:event-type-code"


def _part(name: str, kind: str, value: object) -> dict[str, Any]:
    return {"name": name, f"value{kind}": value}


def _oid(value: str) -> dict[str, str]:
    return {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{value}"}


def _disclosure(item: Disclosure, tenant_id: int) -> dict[str, Any]:
    parts = [
        _part("when", "DateTime", format_time(item.when)),
        _part("direction", "Code", item.direction.value),
        _part(
            "transaction",
            "Coding",
            {"system": _EVENT_TYPE, "code": item.transaction.value, "display": item.transaction.display},
        ),
    ]
    if item.remote_community:
        parts.append(_part("remoteCommunity", "Identifier", _oid(item.remote_community)))
    if item.remote_organization:
        parts.append(_part("remoteOrganization", "String", item.remote_organization))
    parts.append(_part("requestingUser", "String", item.requesting_user))
    if item.requesting_organization:
        parts.append(_part("requestingOrganization", "String", item.requesting_organization))
    if item.purpose_of_use is not None:
        code = item.purpose_of_use
        coding = {
            "system": f"urn:oid:{code.system}" if is_oid(code.system) else code.system,
            "code": code.code,
        }
        if code.display:
            coding["display"] = code.display
        parts.append(_part("purposeOfUse", "Coding", coding))
    parts += [_part("document", "Identifier", {"value": unique_id}) for unique_id in item.document_ids]
    parts.append(_part("outcome", "Code", str(int(item.outcome))))
    parts.append(_part("auditEvent", "Reference", {"reference": f"AuditEvent/audit-{tenant_id}-{item.seq}"}))
    return {"name": "disclosure", "part": parts}


def disclosures_parameters(found: Sequence[Disclosure], tenant_id: int) -> dict[str, Any]:
    body: dict[str, Any] = {"resourceType": "Parameters"}
    if found:
        body["parameter"] = [_disclosure(item, tenant_id) for item in found]
    return body
