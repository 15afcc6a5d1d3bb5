"""FHIR over HTTP: media types, content negotiation, JSON request bodies and orjson responses.

Responses are ``application/fhir+json`` unless the client asked for plain ``application/json`` only. Accepted:
``Accept`` of ``application/fhir+json``, ``application/json``, ``application/json+fhir`` (older clients) or a
wildcard, and ``_format`` of ``json``, ``application/json`` or ``application/fhir+json``, which overrides
``Accept`` (FHIR R4 3.1.0.1.10). Anything else is 406. Request bodies must be ``application/fhir+json`` or
``application/json`` (415 otherwise), UTF-8 JSON objects (400 otherwise), at most ``MAX_BODY`` bytes (413
otherwise, before the body is read when its Content-Length says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fhir_facade.api.errors import (
    InvalidRequestError,
    NotAcceptableError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from gateway.http_body import declared_length, read_limited

__all__ = [
    "FHIR_JSON",
    "FHIR_NDJSON",
    "FhirResponse",
    "negotiate",
    "negotiate_ndjson",
    "read_body",
    "read_resource",
]

FHIR_JSON = "application/fhir+json"
FHIR_NDJSON = "application/fhir+ndjson"
JSON = "application/json"
_JSON_TYPES = (FHIR_JSON, JSON, "application/json+fhir")
_FORMATS = {
    "json": FHIR_JSON,
    JSON: JSON,
    FHIR_JSON: FHIR_JSON,
    "application/json+fhir": FHIR_JSON,
    "ndjson": FHIR_NDJSON,
    FHIR_NDJSON: FHIR_NDJSON,
    "application/ndjson": FHIR_NDJSON,
}
_STATE_KEY = "fhir_media_type"
MAX_BODY = 1024 * 1024


class FhirResponse(Response):
    """A FHIR JSON body serialized by orjson, as ``application/fhir+json; charset=utf-8`` by default."""

    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _media_ranges(header: str) -> list[tuple[str, float]]:
    ranges = []
    for part in header.split(","):
        media, *params = (item.strip() for item in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            ranges.append((media.lower(), quality))
    return ranges


def _accepts(offer: str, media: str) -> bool:
    if media in ("*/*", "application/*"):
        return True
    return media == offer


def choose_media_type(query: Mapping[str, str], accept: str | None, offers: tuple[str, ...]) -> str:
    """The media type to answer with, among ``offers`` (first is preferred); raises 406."""
    fmt = query.get("_format")
    if fmt is not None:
        # An unencoded "+" in a query string arrives as a space ("application/fhir json").
        chosen = _FORMATS.get(fmt.strip().lower().replace(" ", "+"))
        if chosen is None or (chosen not in offers and not (chosen == JSON and FHIR_JSON in offers)):
            raise NotAcceptableError(
                f"_format: this endpoint answers {', '.join(offers)}", expression=("_format",)
            )
        return chosen
    if not accept:
        return offers[0]
    ranges = [(media, q) for media, q in _media_ranges(accept) if q > 0]
    for media, _quality in sorted(ranges, key=lambda item: -item[1]):
        if media == "application/json+fhir" and FHIR_JSON in offers:
            return FHIR_JSON
        if media == JSON and FHIR_JSON in offers:
            return JSON
        if media == "application/ndjson" and FHIR_NDJSON in offers:
            return FHIR_NDJSON
        for offer in offers:
            if _accepts(offer, media):
                return offer
    raise NotAcceptableError(f"this endpoint answers {', '.join(offers)}; the Accept header allows none")


def negotiate(request: Request) -> str:
    """Dependency: choose and remember the FHIR JSON media type of the response (406 when nothing fits)."""
    chosen = choose_media_type(request.query_params, request.headers.get("accept"), (FHIR_JSON,))
    setattr(request.state, _STATE_KEY, chosen)
    return chosen


def negotiate_ndjson(request: Request) -> str:
    """Dependency: the same for endpoints that stream NDJSON."""
    return choose_media_type(request.query_params, request.headers.get("accept"), (FHIR_NDJSON,))


def response_media_type(request: Request) -> str:
    chosen = getattr(request.state, _STATE_KEY, FHIR_JSON)
    return str(chosen)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes: a larger declared Content-Length is refused before anything
    is read (a client announcing 2 MB and sending nothing is not waited for), and a body without one
    (chunked) as soon as what arrived passes the limit (what is held then: up to ``limit`` bytes and the chunk
    that passed it).
    A client that goes away meanwhile raises Starlette's ``ClientDisconnect``."""
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise PayloadTooLargeError(f"the request body is larger than {limit} bytes")
    body = await read_limited(request, limit)
    if len(body) > limit:
        raise PayloadTooLargeError(f"the request body is larger than {limit} bytes")
    return body


async def read_resource(request: Request, resource_type: str) -> dict[str, Any]:
    """The request body as a JSON object of ``resource_type`` (415 wrong media type, 400 bad JSON)."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    if media not in _JSON_TYPES:
        raise UnsupportedMediaTypeError(
            f"send the resource as {FHIR_JSON} (got {media or 'no Content-Type'})",
        )
    body = await read_body(request, MAX_BODY)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequestError("the request body is not valid JSON", issue_code="structure") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("the request body must be a JSON object", issue_code="structure")
    if data.get("resourceType") != resource_type:
        raise InvalidRequestError(
            f"expected a {resource_type} resource", expression=("resourceType",), issue_code="structure"
        )
    return data
