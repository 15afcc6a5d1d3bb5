"""Errors of the FHIR API and their one rendering: an OperationOutcome with the right HTTP status.

The API's codes are the 9xxx layer of the project's hierarchy (``xca.errors`` reserves it; they live here
until that module takes them over)::

    HieGatewayError
    └── ApiError                             HG-9000  500 ``exception``
        ├── InvalidRequestError(ValueError)  HG-9001  400 ``invalid`` / ``value`` (``expression`` names where)
        ├── NotAcceptableError               HG-9002  406 ``not-supported``
        ├── UnsupportedMediaTypeError        HG-9003  415 ``not-supported``
        ├── UnsupportedSearchError           HG-9004  400 ``not-supported`` (handling=strict)
        ├── AuthenticationError              HG-9101  401 ``login`` + ``WWW-Authenticate`` / OAuth2 error
        ├── InsufficientScopeError           HG-9102  403 ``forbidden``
        ├── ResourceNotFoundError            HG-9201  404 ``not-found`` (also another tenant's resource)
        ├── MethodNotAllowedError            HG-9202  405 ``not-supported``
        ├── ResourceConflictError            HG-9203  409 ``duplicate``
        ├── MultipleMatchesError             HG-9204  412 ``multiple-matches`` (conditional create)
        ├── BusinessRuleError                HG-9205  422 ``business-rule``
        └── InternalApiError                 HG-9500  500 ``exception`` (``detail['incident']``)

``detail`` never carries PHI; ``diagnostics`` says what to fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from xca.errors import HieGatewayError

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
    "ResourceConflictError",
    "ResourceNotFoundError",
    "UnsupportedMediaTypeError",
    "UnsupportedSearchError",
    "operation_outcome",
]

ERROR_CODE_SYSTEM = "urn:hie-gateway:error-code"
OAUTH_ERROR_SYSTEM = "urn:ietf:rfc:6749"


@dataclass(frozen=True, slots=True)
class Issue:
    """One ``OperationOutcome.issue``."""

    severity: str
    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()
    error_code: str | None = None
    oauth_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        coding = []
        if self.error_code:
            coding.append({"system": ERROR_CODE_SYSTEM, "code": self.error_code})
        if self.oauth_error:
            coding.append({"system": OAUTH_ERROR_SYSTEM, "code": self.oauth_error})
        if coding:
            issue["details"] = {"coding": coding}
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


def operation_outcome(issues: Sequence[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [issue.to_json() for issue in issues]}


class ApiError(HieGatewayError):
    """An API request that cannot be answered as asked; rendered as an OperationOutcome."""

    code = "HG-9000"
    status: ClassVar[int] = 500
    issue_code: ClassVar[str] = "exception"

    def __init__(
        self,
        message: str,
        *,
        expression: Sequence[str] = (),
        issue_code: str | None = None,
        headers: dict[str, str] | None = None,
        detail: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message, detail=detail)
        self.expression = tuple(expression)
        self.headers = dict(headers or {})
        if issue_code is not None:
            self.instance_issue_code = issue_code

    @property
    def issue(self) -> Issue:
        code = getattr(self, "instance_issue_code", self.issue_code)
        oauth = self.detail.get("oauth_error")
        return Issue(
            "error",
            code,
            self.message,
            self.expression,
            error_code=self.code,
            oauth_error=oauth if isinstance(oauth, str) else None,
        )


class InvalidRequestError(ApiError, ValueError):
    code = "HG-9001"
    status = 400
    issue_code = "invalid"


class NotAcceptableError(ApiError):
    code = "HG-9002"
    status = 406
    issue_code = "not-supported"


class UnsupportedMediaTypeError(ApiError):
    code = "HG-9003"
    status = 415
    issue_code = "not-supported"


class UnsupportedSearchError(InvalidRequestError):
    code = "HG-9004"
    issue_code = "not-supported"


class AuthenticationError(ApiError):
    """Missing, malformed, expired or unknown credentials; ``oauth_error`` is the RFC 6749/6750 error code."""

    code = "HG-9101"
    status = 401
    issue_code = "login"

    def __init__(self, message: str, *, oauth_error: str | None = "invalid_token", status: int = 401) -> None:
        challenge = 'Bearer realm="hie-gateway"' + (f', error="{oauth_error}"' if oauth_error else "")
        headers = {"WWW-Authenticate": challenge} if status == 401 else {}
        super().__init__(
            message, headers=headers, detail={"oauth_error": oauth_error} if oauth_error else None
        )
        self.instance_status = status

    @property
    def http_status(self) -> int:
        return self.instance_status


class InsufficientScopeError(ApiError):
    code = "HG-9102"
    status = 403
    issue_code = "forbidden"


class ResourceNotFoundError(ApiError):
    code = "HG-9201"
    status = 404
    issue_code = "not-found"


class MethodNotAllowedError(ApiError):
    code = "HG-9202"
    status = 405
    issue_code = "not-supported"


class ResourceConflictError(ApiError):
    code = "HG-9203"
    status = 409
    issue_code = "duplicate"


class MultipleMatchesError(ApiError):
    code = "HG-9204"
    status = 412
    issue_code = "multiple-matches"


class BusinessRuleError(ApiError):
    code = "HG-9205"
    status = 422
    issue_code = "business-rule"


class InternalApiError(ApiError):
    code = "HG-9500"
    status = 500
    issue_code = "exception"


def http_status(error: ApiError) -> int:
    """The status of ``error`` (an :class:`AuthenticationError` may be 400: a malformed token request)."""
    return error.http_status if isinstance(error, AuthenticationError) else error.status
