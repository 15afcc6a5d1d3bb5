"""A patient's consolidated record as this server shows it: the stored rows of its scope, read in keyset
batches; its bundle-relative references (``urn:uuid:<id>``) and document names (``urn:oid:<uniqueId>``) as
this server's ``Type/id`` and ``Binary/{id}``; which of its types a token may read; and the ``_since`` and
``_type`` parameters that select from it. Shared by the record's routes (:mod:`.record`) and Bulk export
(:mod:`.bulk`)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fhir_facade.api.auth.principal import Principal
from fhir_facade.api.errors import InsufficientScopeError, InvalidRequestError
from fhir_facade.api.paging import parse_date_param
from fhir_facade.api.routing import ParsedSearch
from gateway.store.models import Tenant
from gateway.store.pull import RECORD_SCOPES, FhirResource, PullJob, PullJobDocument, record_scope

__all__ = [
    "consolidated_rows",
    "parse_since",
    "parse_types",
    "present_types",
    "readable",
    "reference_map",
    "rest_view",
]


def parse_since(search: ParsedSearch) -> dt.datetime | None:
    values = search.values("_since")
    if not values:
        return None
    if len(values) > 1:
        raise InvalidRequestError("_since may be given once", expression=("_since",))
    return parse_date_param("_since", values[0][1]).start


def parse_types(search: ParsedSearch) -> set[str] | None:
    values = search.values("_type")
    if not values:
        return None
    return {item.strip() for _modifier, value in values for item in value.split(",") if item.strip()}


def consolidated_rows(
    session: Session,
    tenant: Tenant,
    patient_id: uuid.UUID,
    *,
    types: set[str] | None = None,
    since: dt.datetime | None = None,
    after: int | None = None,
) -> Iterator[FhirResource]:
    """The patient's consolidated resources, by row id, in batches."""
    last = after or 0
    while True:
        statement = (
            select(FhirResource)
            .where(
                FhirResource.tenant_id == tenant.id,
                FhirResource.scope == record_scope(patient_id),
                FhirResource.id > last,
            )
            .order_by(FhirResource.id)
            .limit(500)
        )
        if types is not None:
            statement = statement.where(FhirResource.resource_type.in_(sorted(types)))
        if since is not None:
            statement = statement.where(FhirResource.updated_at >= since)
        rows = list(session.scalars(statement))
        yield from rows
        if len(rows) < 500:
            return
        last = rows[-1].id


def reference_map(session: Session, tenant: Tenant, patient_id: uuid.UUID) -> dict[str, str]:
    """How the consolidated record's bundle-relative references (``urn:uuid:<id>``) read on this server:
    ``Type/id``, and the record's own Patient(s) as the registered ``Patient/{patient_id}``; and where each
    document the record describes can be read: its DocumentReference's attachment names it by its XDS
    uniqueId (``urn:oid:<uniqueId>``), served here as ``Binary/{id}``."""
    rows = session.execute(
        select(FhirResource.resource_type, FhirResource.resource_id).where(
            FhirResource.tenant_id == tenant.id, FhirResource.scope == record_scope(patient_id)
        )
    ).all()
    found = {
        f"urn:uuid:{rid}": f"Patient/{patient_id}" if rtype == "Patient" else f"{rtype}/{rid}"
        for rtype, rid in rows
    }
    documents = session.execute(
        select(PullJobDocument.unique_id, PullJobDocument.raw_document_id)
        .join(PullJob, PullJob.id == PullJobDocument.job_id)
        .where(
            PullJob.tenant_id == tenant.id,
            PullJob.patient_id == patient_id,
            PullJobDocument.raw_document_id.is_not(None),
        )
        .order_by(PullJobDocument.id)
    ).all()
    for unique_id, raw_id in documents:
        found.setdefault(f"urn:oid:{unique_id}", f"Binary/{raw_id}")
    return found


def rest_view(value: Any, references: dict[str, str]) -> Any:
    """``value`` with every ``reference`` (and attachment ``url``) rewritten by ``references`` (a copy;
    unknown ones kept)."""
    if isinstance(value, dict):
        return {
            key: references.get(item, item)
            if key in _REWRITTEN and isinstance(item, str)
            else rest_view(item, references)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [rest_view(item, references) for item in value]
    return value


_REWRITTEN = frozenset({"reference", "url"})


def present_types(session: Session, tenant: Tenant, patient_id: uuid.UUID | None = None) -> set[str]:
    """The resource types held in the consolidated records of one patient (or of every patient)."""
    scope = (
        FhirResource.scope == record_scope(patient_id)
        if patient_id
        else FhirResource.scope.like(RECORD_SCOPES)
    )
    found = session.scalars(
        select(FhirResource.resource_type).where(FhirResource.tenant_id == tenant.id, scope).distinct()
    )
    return {*found, "Patient"}


def readable(principal: Principal, types: set[str] | None, present: set[str]) -> set[str]:
    """The requested types (default: every type ``present``) the token may read; naming one it may not
    read is 403."""
    wanted = types if types is not None else present
    allowed = {name for name in wanted if principal.scopes.allows(name, "r")}
    if types is not None and wanted - allowed:
        raise InsufficientScopeError(
            f"the token's scopes do not allow reading {', '.join(sorted(wanted - allowed))}",
            expression=("_type",),
        )
    return allowed
