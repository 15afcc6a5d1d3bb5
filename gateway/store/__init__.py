"""Persistence: SQLAlchemy 2 models, Alembic migrations, and the repositories built on them."""

from gateway.store.api import ApiAssertionUse, ApiClient, ApiKey, PatientSearch, PatientSearchName
from gateway.store.api_jobs import ApiExport, ApiExportFile, ApiPull, ApiWebhook, ApiWebhookDelivery
from gateway.store.clinic import ClinicDocument, PatientMatchKey
from gateway.store.db import Database, current_revision, head_revision, require_existing, upgrade
from gateway.store.models import Base, Patient, PatientIdentifier, RawDocument, Tenant
from gateway.store.pull import (
    FhirResource,
    PatientLink,
    PullJob,
    PullJobDocument,
    PullJobGateway,
    RemoteCommunity,
)

__all__ = [
    "ApiAssertionUse",
    "ApiClient",
    "ApiExport",
    "ApiExportFile",
    "ApiKey",
    "ApiPull",
    "ApiWebhook",
    "ApiWebhookDelivery",
    "Base",
    "ClinicDocument",
    "Database",
    "FhirResource",
    "Patient",
    "PatientIdentifier",
    "PatientLink",
    "PatientMatchKey",
    "PatientSearch",
    "PatientSearchName",
    "PullJob",
    "PullJobDocument",
    "PullJobGateway",
    "RawDocument",
    "RemoteCommunity",
    "Tenant",
    "current_revision",
    "head_revision",
    "require_existing",
    "upgrade",
]
