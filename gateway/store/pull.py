"""Tables of the initiating side (migration 0004): the directory, pull jobs, patient links, job documents and
converted FHIR resources.

``remote_community`` is the imported directory (network-wide, not per tenant). A ``pull_job`` is one pull
with its persisted state machine, gateway selection and progress counters; ``pull_job_gateway`` holds one row
per selected gateway (its stage, outcome and error code); ``pull_job_document`` one row per document found
(found → retrieved → converted). ``patient_link`` ties a local patient to its id in a remote community and
is reused by later pulls. ``fhir_resource`` keeps converted resources per tenant: the per-document view
(``scope`` is the source raw document) and the consolidated view (``scope`` is ``patient:<uuid>``).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base, UtcDateTime, utcnow

__all__ = [
    "RECORD_SCOPES",
    "FhirResource",
    "PatientLink",
    "PullJob",
    "PullJobDocument",
    "PullJobGateway",
    "RemoteCommunity",
    "record_scope",
]


class RemoteCommunity(Base):
    """One organization of the directory: its community, location and ITI-55/38/39 endpoints."""

    __tablename__ = "remote_community"

    home_community_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean)
    part_of: Mapped[str | None] = mapped_column(String(128))
    city: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str | None] = mapped_column(String(32), index=True)
    postal_code: Mapped[str | None] = mapped_column(String(32))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    iti55_url: Mapped[str | None] = mapped_column(String(1024))
    iti38_url: Mapped[str | None] = mapped_column(String(1024))
    iti39_url: Mapped[str | None] = mapped_column(String(1024))
    source: Mapped[str] = mapped_column(String(255))
    imported_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class PullJob(Base):
    """One pull of a patient's outside records; ``state`` is the persisted state machine."""

    __tablename__ = "pull_job"
    __table_args__ = (Index("ix_pull_job_tenant_state", "tenant_id", "state"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id", ondelete="RESTRICT"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    purpose_of_use: Mapped[str] = mapped_column(String(32))
    request: Mapped[dict[str, object]] = mapped_column(JSON)
    selection: Mapped[dict[str, object]] = mapped_column(JSON)
    gateways_selected: Mapped[int] = mapped_column(Integer, default=0)
    gateways_asked: Mapped[int] = mapped_column(Integer, default=0)
    gateways_answered: Mapped[int] = mapped_column(Integer, default=0)
    gateways_matched: Mapped[int] = mapped_column(Integer, default=0)
    gateways_failed: Mapped[int] = mapped_column(Integer, default=0)
    documents_found: Mapped[int] = mapped_column(Integer, default=0)
    documents_retrieved: Mapped[int] = mapped_column(Integer, default=0)
    documents_converted: Mapped[int] = mapped_column(Integer, default=0)
    documents_failed: Mapped[int] = mapped_column(Integer, default=0)
    resources_stored: Mapped[int] = mapped_column(Integer, default=0)
    record_ms: Mapped[int | None] = mapped_column(Integer)
    """When the record was first published before the job ended (ms after the run started), else null."""
    record_documents: Mapped[int | None] = mapped_column(Integer)
    """Documents converted when the record was last published (before the job ended)."""
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_detail: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class PullJobGateway(Base):
    """One selected gateway of a job: how far it got, what it answered, and why it stopped."""

    __tablename__ = "pull_job_gateway"
    __table_args__ = (UniqueConstraint("job_id", "home_community_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pull_job.id", ondelete="CASCADE"), index=True)
    home_community_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255))
    stage: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))
    match_score: Mapped[int | None] = mapped_column(Integer)
    remote_patient_id: Mapped[str | None] = mapped_column(String(255))
    remote_assigning_authority: Mapped[str | None] = mapped_column(String(128))
    link_reused: Mapped[bool] = mapped_column(Boolean, default=False)
    documents_found: Mapped[int] = mapped_column(Integer, default=0)
    documents_retrieved: Mapped[int] = mapped_column(Integer, default=0)
    exchanges: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    answered_ms: Mapped[dict[str, int] | None] = mapped_column(JSON)
    """Per transaction (``ITI-55``...), the slowest of this gateway's answers that measured how long it takes
    to answer (see :func:`gateway.initiating.settle.measures`): what a resumed job judges overdue requests
    by."""
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    """Still asking when the job's record was first published."""
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class PatientLink(Base):
    """A local patient's identity in a remote community, found by ITI-55 and reused by later pulls."""

    __tablename__ = "patient_link"
    __table_args__ = (UniqueConstraint("tenant_id", "patient_id", "home_community_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    home_community_id: Mapped[str] = mapped_column(String(128))
    remote_patient_id: Mapped[str] = mapped_column(String(255))
    remote_assigning_authority: Mapped[str] = mapped_column(String(128))
    score: Mapped[int | None] = mapped_column(Integer)
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pull_job.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class PullJobDocument(Base):
    """A document a job found (ITI-38) and its progress: found → retrieved → converted (or failed)."""

    __tablename__ = "pull_job_document"
    __table_args__ = (UniqueConstraint("job_id", "home_community_id", "unique_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pull_job.id", ondelete="CASCADE"), index=True)
    home_community_id: Mapped[str] = mapped_column(String(128))
    repository_id: Mapped[str] = mapped_column(String(128))
    unique_id: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    reused: Mapped[bool] = mapped_column(Boolean, default=False)
    raw_document_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("raw_document.id", ondelete="RESTRICT"), index=True
    )
    mime_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int | None] = mapped_column(Integer)
    sha1: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(255))
    type_code: Mapped[str | None] = mapped_column(String(255))
    type_code_system: Mapped[str | None] = mapped_column(String(255))
    type_code_display: Mapped[str | None] = mapped_column(String(255))
    """The listing's ``typeCode``: code, codingScheme (as sent) and display name; null when not listed."""
    creation_time: Mapped[str | None] = mapped_column(String(14))
    """The listing's ``creationTime`` as an XDS DTM in UTC at its own precision (``20240115``,
    ``20240115093000``); null when not listed or not a calendar date."""
    resources: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


RECORD_SCOPES = "patient:%"
"""``FhirResource.scope`` LIKE pattern of every patient's consolidated record."""


def record_scope(patient_id: uuid.UUID) -> str:
    """``FhirResource.scope`` of one patient's consolidated record (a document's own rows: ``doc:<id>``)."""
    return f"patient:{patient_id.hex}"


class FhirResource(Base):
    """A converted FHIR resource of a tenant; ``scope`` separates per-document and consolidated views."""

    __tablename__ = "fhir_resource"
    __table_args__ = (
        UniqueConstraint("tenant_id", "scope", "resource_type", "resource_id"),
        Index("ix_fhir_resource_patient", "tenant_id", "patient_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(128))
    source_document_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("raw_document.id", ondelete="RESTRICT"), index=True
    )
    content: Mapped[dict[str, object]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
