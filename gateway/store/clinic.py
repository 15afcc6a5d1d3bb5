"""Tables of the clinic's own data as the responding gateway serves it (migration 0003).

``patient_match_key`` is a derived blocking index for patient matching: one row per name of a local patient
with the metaphone key of its family name and the birth date, so an inbound ITI-55 scores a handful of
candidates, not the whole table. ``clinic_document`` is the XDS DocumentEntry of each of the clinic's own
documents (the full metadata as JSON, the ids it is found by as columns); the bytes live once in
``raw_document``.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base, UtcDateTime, utcnow

__all__ = ["ClinicDocument", "PatientMatchKey"]


class PatientMatchKey(Base):
    """A blocking key of a local patient: family-name metaphone and birth date (or year)."""

    __tablename__ = "patient_match_key"
    __table_args__ = (
        Index("ix_patient_match_key_birth_date", "tenant_id", "birth_date"),
        Index("ix_patient_match_key_family_year", "tenant_id", "family_key", "birth_year"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    family_key: Mapped[str] = mapped_column(String(32))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    birth_year: Mapped[int | None] = mapped_column(Integer)


class ClinicDocument(Base):
    """One of the clinic's own documents as an XDS DocumentEntry, served by ITI-38 and ITI-39."""

    __tablename__ = "clinic_document"
    __table_args__ = (
        UniqueConstraint("tenant_id", "entry_uuid"),
        UniqueConstraint("tenant_id", "unique_id"),
        Index("ix_clinic_document_patient", "tenant_id", "patient_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient.id", ondelete="RESTRICT"))
    raw_document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("raw_document.id", ondelete="RESTRICT"))
    entry_uuid: Mapped[str] = mapped_column(String(64))
    unique_id: Mapped[str] = mapped_column(String(255))
    repository_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(64))
    entry_metadata: Mapped[dict[str, object]] = mapped_column("metadata", JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
