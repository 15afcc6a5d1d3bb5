"""The FHIR API (HG-9xxx). Each class carries its HTTP ``status`` and OperationOutcome ``issue_code`` as plain
data, and :attr:`ApiError.issue` is a plain :class:`Issue` record; rendering them (OperationOutcome JSON, the
HTTP response) belongs to :mod:`fhir_facade.api.errors`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from xca.errors._base import HieGatewayError

__all__ = [
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
]


@dataclass(frozen=True, slots=True)
class Issue:
    """One ``OperationOutcome.issue`` as plain data (:mod:`fhir_facade.api.errors` renders it)."""

    severity: str
    code: str
    diagnostics: str
    expression: tuple[str, ...] = ()
    error_code: str | None = None
    oauth_error: str | None = None


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


class PayloadTooLargeError(ApiError):
    """A request body over the route's limit: refused by its declared Content-Length before any of it is
    read, or as soon as the bytes received pass the limit (a chunked body)."""

    code = "HG-9005"
    status = 413
    issue_code = "too-long"


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
