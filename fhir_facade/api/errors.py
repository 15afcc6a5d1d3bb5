"""The FHIR API's one rendering of its errors: an OperationOutcome with the right HTTP status.

The exception classes are the 9xxx layer of the project's hierarchy and live in :mod:`xca.errors` (see its
tree); they are re-exported here so the API's modules keep importing them from one place::

    HieGatewayError
    └── ApiError                             HG-9000  500 ``exception``
        ├── InvalidRequestError(ValueError)  HG-9001  400 ``invalid`` / ``value`` (``expression`` names where)
        │   └── UnsupportedSearchError       HG-9004  400 ``not-supported`` (handling=strict)
        ├── NotAcceptableError               HG-9002  406 ``not-supported``
        ├── UnsupportedMediaTypeError        HG-9003  415 ``not-supported``
        ├── PayloadTooLargeError             HG-9005  413 ``too-long`` (Content-Length or the bytes read)
        ├── AuthenticationError              HG-9101  401 ``login`` + ``WWW-Authenticate`` / OAuth2 error
        ├── InsufficientScopeError           HG-9102  403 ``forbidden``
        ├── ResourceNotFoundError            HG-9201  404 ``not-found`` (also another tenant's resource)
        ├── MethodNotAllowedError            HG-9202  405 ``not-supported``
        ├── ResourceConflictError            HG-9203  409 ``duplicate``
        ├── MultipleMatchesError             HG-9204  412 ``multiple-matches`` (conditional create)
        ├── BusinessRuleError                HG-9205  422 ``business-rule``
        └── InternalApiError                 HG-9500  500 ``exception`` (``detail['incident']``)

An error's ``issue`` (plain :class:`Issue` data) is rendered by :func:`operation_outcome`;
:func:`http_status` gives its status.
``detail`` never carries PHI; ``diagnostics`` says what to fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xca.errors import (
    ApiError,
    AuthenticationError,
    BusinessRuleError,
    InsufficientScopeError,
    InternalApiError,
    InvalidRequestError,
    Issue,
    MethodNotAllowedError,
    MultipleMatchesError,
    NotAcceptableError,
    PayloadTooLargeError,
    ResourceConflictError,
    ResourceNotFoundError,
    UnsupportedMediaTypeError,
    UnsupportedSearchError,
)

__all__ = [
    "ERROR_CODE_SYSTEM",
    "ApiError",
    "AuthenticationError",
    "BusinessRuleError",
    "InsufficientScopeError",
    "InternalApiError",
    "InvalidRequestError",
    "Issue",
    "MethodNotAllowedError",
    "MultipleMatchesError",
    "NotAcceptableError",
    "PayloadTooLargeError",
    "ResourceConflictError",
    "ResourceNotFoundError",
    "UnsupportedMediaTypeError",
    "UnsupportedSearchError",
    "issue_json",
    "operation_outcome",
]

ERROR_CODE_SYSTEM = "urn:hie-gateway:error-code"
OAUTH_ERROR_SYSTEM = "urn:ietf:rfc:6749"


def issue_json(issue: Issue) -> dict[str, Any]:
    """One ``OperationOutcome.issue`` as FHIR JSON (the error code and OAuth error as codings)."""
    out: dict[str, Any] = {
        "severity": issue.severity,
        "code": issue.code,
        "diagnostics": issue.diagnostics,
    }
    coding = []
    if issue.error_code:
        coding.append({"system": ERROR_CODE_SYSTEM, "code": issue.error_code})
    if issue.oauth_error:
        coding.append({"system": OAUTH_ERROR_SYSTEM, "code": issue.oauth_error})
    if coding:
        out["details"] = {"coding": coding}
    if issue.expression:
        out["expression"] = list(issue.expression)
    return out


def operation_outcome(issues: Sequence[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [issue_json(issue) for issue in issues]}


def http_status(error: ApiError) -> int:
    """The status of ``error`` (an :class:`AuthenticationError` may be 400: a malformed token request)."""
    return error.http_status if isinstance(error, AuthenticationError) else error.status
