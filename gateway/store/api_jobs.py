"""Tables of the FHIR API's asynchronous work (migration 0006): pulls started through the API, webhook
registrations and deliveries, and bulk exports with their NDJSON files.

``api_pull`` remembers which client started a pull job (whose webhook to call). ``api_webhook`` is one
client's completion webhook: URL and HMAC secret (kept in clear: it is needed to sign).
``api_webhook_delivery``
is one event to deliver; its ``event_id`` is stable per job and final state, so an event is stored and sent
once however often the completion is observed. ``api_export`` / ``api_export_file`` are bulk-data exports;
the NDJSON files are kept in the database (no file-system state to clean up or to share between workers).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base, UtcDateTime, utcnow

__all__ = ["ApiExport", "ApiExportFile", "ApiPull", "ApiWebhook", "ApiWebhookDelivery"]


class ApiPull(Base):
    __tablename__ = "api_pull"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pull_job.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"), index=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("api_client.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiWebhook(Base):
    __tablename__ = "api_webhook"

    client_pk: Mapped[int] = mapped_column(ForeignKey("api_client.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str] = mapped_column(String(1024))
    secret: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiWebhookDelivery(Base):
    __tablename__ = "api_webhook_delivery"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"), index=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("api_client.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[uuid.UUID] = mapped_column()
    url: Mapped[str] = mapped_column(String(1024))
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class ApiExport(Base):
    __tablename__ = "api_export"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"), index=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("api_client.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    request_url: Mapped[str] = mapped_column(Text)
    types: Mapped[str] = mapped_column(Text)
    since: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    group_id: Mapped[str | None] = mapped_column(String(64))
    transaction_time: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class ApiExportFile(Base):
    __tablename__ = "api_export_file"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    export_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_export.id", ondelete="CASCADE"), index=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=0)
    content: Mapped[str] = mapped_column(Text)
