"""The FHIR R4 REST API clinic developers use (``hiegate serve``): a thin layer over gateway services.

:func:`create_app` builds the FastAPI app: SMART Backend Services token endpoint and development API keys
(:mod:`.auth`), Patient create/read/search (:mod:`.patients`), the audit trail as AuditEvents with an
NDJSON export and the accounting of disclosures (:mod:`.auditevents`), the asynchronous pull with its status
URL and webhook (:mod:`.pull`, :mod:`.background`), the consolidated record (``$everything``, type searches,
``Binary``: :mod:`.record`), Bulk Data export (:mod:`.bulk`), and a CapabilityStatement generated from the
registered routes (:mod:`.capability`). New routes declare a :class:`FhirEndpoint` with
:func:`fhir_route` and depend on :func:`require_access` / :func:`require_operation` (scopes),
:func:`requesting_user` (the validated user for a SAML assertion) and :func:`record_access` (audit).

Names are imported on first use, so ``hiegate`` (which imports :mod:`.cli`) starts without loading FastAPI.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ApiContext",
    "ApiError",
    "Context",
    "FhirEndpoint",
    "FhirOperation",
    "Info",
    "Interaction",
    "Principal",
    "SearchParam",
    "authenticate",
    "create_app",
    "fhir_route",
    "parse_search",
    "patient_ids",
    "public_base_url",
    "record_access",
    "requesting_user",
    "require_access",
    "require_operation",
]

_HOME = {
    "patient_ids": "access",
    "record_access": "access",
    "create_app": "app",
    "public_base_url": "app",
    "Principal": "auth.principal",
    "authenticate": "auth.principal",
    "require_access": "auth.principal",
    "require_operation": "auth.principal",
    "requesting_user": "auth.principal",
    "ApiContext": "context",
    "Context": "context",
    "Info": "context",
    "ApiError": "errors",
    "FhirEndpoint": "routing",
    "FhirOperation": "routing",
    "Interaction": "routing",
    "SearchParam": "routing",
    "fhir_route": "routing",
    "parse_search": "routing",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
