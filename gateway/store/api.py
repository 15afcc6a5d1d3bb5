"""Tables of the FHIR API (migration 0005): registered API clients, their API keys, used assertion ids, and
the patient search index.

``api_client`` is one registered system (SMART Backend Services client): the tenant it acts for, its public
keys as a static JWKS, the scopes it may be granted, and the requesting-user defaults the later SAML
assertion is built from. ``api_key`` holds development API keys by SHA-256 only (the keys are 256-bit random,
so a fast hash is enough). ``api_assertion_use`` remembers each client assertion ``jti`` until its ``exp``
so a replayed assertion is refused. ``patient_search`` / ``patient_search_name`` are a derived index of the
clinic's patients (birth date, gender, folded name parts) for FHIR Patient search.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base, UtcDateTime, utcnow

__all__ = ["ApiAssertionUse", "ApiClient", "ApiKey", "PatientSearch", "PatientSearchName"]


class ApiClient(Base):
    """A registered API client: one system of one tenant, with its keys, scopes and requesting user."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    jwks: Mapped[dict[str, object] | None] = mapped_column(JSON)
    scopes: Mapped[str] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(String(255))
    user_name: Mapped[str | None] = mapped_column(String(255))
    user_npi: Mapped[str | None] = mapped_column(String(10))
    user_role: Mapped[str | None] = mapped_column(String(32))
    purpose_of_use: Mapped[str] = mapped_column(String(32))
    organization_oid: Mapped[str | None] = mapped_column(String(128))
    allow_user_headers: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiKey(Base):
    """A development API key of a client, by hash; ``scopes`` is a subset of the client's."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("api_client.id", ondelete="CASCADE"), index=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class ApiAssertionUse(Base):
    """A client assertion ``jti`` already used, kept until the assertion expires."""

    __tablename__ = "api_assertion_use"

    client_pk: Mapped[int] = mapped_column(
        ForeignKey("api_client.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


class PatientSearch(Base):
    """Search columns of one clinic patient (derived from ``patient.demographics``)."""

    __tablename__ = "patient_search"
    __table_args__ = (Index("ix_patient_search_birth_date", "tenant_id", "birth_date"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("patient.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(16))


class PatientSearchName(Base):
    """One folded name part (``family``, ``given`` or a word of ``text``) of a clinic patient."""

    __tablename__ = "patient_search_name"
    __table_args__ = (Index("ix_patient_search_name_value", "tenant_id", "part", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    part: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(255))
