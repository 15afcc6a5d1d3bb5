"""Storage (HG-5xxx): database and migrations."""

from __future__ import annotations

from xca.errors._base import HieGatewayError

__all__ = [
    "DatabaseUnavailableError",
    "DocumentConflictError",
    "DocumentPatientMismatchError",
    "MigrationError",
    "StorageError",
]


class StorageError(HieGatewayError):
    code = "HG-5000"


class DatabaseUnavailableError(StorageError):
    code = "HG-5001"


class MigrationError(StorageError):
    code = "HG-5002"


class DocumentConflictError(StorageError):
    """A community sent a document under a unique id we already hold with different bytes."""

    code = "HG-5003"


class DocumentPatientMismatchError(StorageError):
    """A community listed, for the patient being pulled, a document unique id already held for another local
    patient: it is never attached to this patient (colliding ids, or a mixed-up record over there)."""

    code = "HG-5004"
