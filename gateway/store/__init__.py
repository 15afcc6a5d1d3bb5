"""Persistence: SQLAlchemy 2 models, Alembic migrations, and the repositories built on them."""

from gateway.store.clinic import ClinicDocument, PatientMatchKey
from gateway.store.db import Database, current_revision, head_revision, upgrade
from gateway.store.models import Base, Patient, PatientIdentifier, RawDocument, Tenant

__all__ = [
    "Base",
    "ClinicDocument",
    "Database",
    "Patient",
    "PatientIdentifier",
    "PatientMatchKey",
    "RawDocument",
    "Tenant",
    "current_revision",
    "head_revision",
    "upgrade",
]
