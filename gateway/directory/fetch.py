"""Fetching a directory from its FHIR server: a search's result pages, each a Bundle, followed by their
``next`` links (FHIR R4 RESTful API, "Paging").

A Carequality-style directory is served as a FHIR search (``Organization?_include=Organization:endpoint``
and the like). The pages are gathered first and read as one Bundle by
:func:`gateway.directory.fhir_import.parse_directory`, so an Endpoint on another page than its Organization
(as ``_include`` may put it) is still found, and nothing is imported unless every page arrived.

What a directory server can make this do is bounded: HTTPS only with the server's certificate and hostname
checked (:func:`gateway.security.service_ssl_context`), no redirects, ``next`` links only to the same origin
(scheme, host and port) as the URL asked, no page asked twice, a page count, a byte budget over all pages and
a timeout per request. Every failure is a :class:`~xca.errors.DirectoryFetchError` naming the page's URL
without its query (where API keys are often passed).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

from gateway.security import sync_client
from xca.errors import DirectoryFetchError

__all__ = ["FetchLimits", "FetchedDirectory", "fetch_directory"]

_ACCEPT: Final = "application/fhir+json, application/json;q=0.9"


@dataclass(frozen=True)
class FetchLimits:
    """``max_pages`` pages of at most ``max_bytes`` bytes together; ``timeout`` seconds per request."""

    max_pages: int = 1000
    max_bytes: int = 256 * 1024 * 1024
    timeout: float = 60.0


@dataclass(frozen=True)
class FetchedDirectory:
    """Every page's entries as one Bundle (JSON bytes), and how many pages and bytes it took."""

    bundle: bytes
    pages: int
    size: int


def shown(url: str) -> str:
    """``url`` as messages print it: without its query and fragment, which may carry an API key."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise DirectoryFetchError(f"{shown(url)}: the port is not a number", detail={}) from None
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port or default


def fetch_directory(
    url: str,
    *,
    ssl_context: ssl.SSLContext,
    headers: Mapping[str, str] | None = None,
    limits: FetchLimits | None = None,
) -> FetchedDirectory:
    """GET ``url`` and every ``next`` page after it; ``headers`` go with every request (an API key)."""
    limits = limits or FetchLimits()
    scheme, host, _ = origin = _origin(url)
    if scheme != "https" or not host:
        raise DirectoryFetchError(
            f"{shown(url)}: a directory is fetched over https only (with a host name)", detail={}
        )
    entries: list[Any] = []
    seen: set[str] = set()
    size = 0
    page: str | None = url
    request_headers = {"Accept": _ACCEPT, **(headers or {})}
    with sync_client(ssl_context=ssl_context, timeout=limits.timeout, follow_redirects=False) as client:
        while page is not None:
            if len(seen) >= limits.max_pages:
                raise DirectoryFetchError(
                    f"{shown(url)}: more than {limits.max_pages} pages; nothing imported", detail={}
                )
            seen.add(page)
            content = _get(client, page, request_headers, limits.max_bytes - size)
            size += len(content)
            bundle = _bundle(page, content)
            entries.extend(e for e in bundle.get("entry") or () if isinstance(e, dict))
            page = _next(bundle, page, origin, seen)
    combined = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return FetchedDirectory(orjson.dumps(combined), len(seen), size)


def _get(client: httpx.Client, page: str, headers: Mapping[str, str], budget: int) -> bytes:
    where = shown(page)
    try:
        with client.stream("GET", page, headers=headers) as response:
            if response.status_code != 200:
                raise DirectoryFetchError(
                    f"{where}: HTTP {response.status_code}{_why(response.status_code)}; nothing imported",
                    detail={"status": response.status_code},
                )
            chunks: list[bytes] = []
            received = 0
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > budget:
                    raise DirectoryFetchError(
                        f"{where}: the directory is larger than the limit; nothing imported", detail={}
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TimeoutException:
        raise DirectoryFetchError(f"{where}: no answer in time; nothing imported", detail={}) from None
    except httpx.TransportError as exc:
        raise DirectoryFetchError(f"{where}: {_transport_reason(exc)}; nothing imported", detail={}) from None


def _why(status: int) -> str:
    if status in (401, 403):
        return " (refused: check directory_auth_header)"
    if 300 <= status < 400:
        return " (a redirect, not followed: give the URL it names)"
    return ""


def _transport_reason(exc: httpx.TransportError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = cause.verify_message or cause.reason or "verification failed"
            return f"the server's certificate was refused ({why}; directory_ca_file names a private CA)"
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed ({cause.reason or cause})"
        if isinstance(cause, OSError) and cause.strerror:
            return f"connection failed ({cause.strerror.lower()})"
        cause = cause.__cause__ or cause.__context__
    return f"connection failed ({type(exc).__name__})"


def _bundle(page: str, content: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError:
        raise DirectoryFetchError(
            f"{shown(page)}: the page is not JSON; nothing imported", detail={}
        ) from None
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        kind = document.get("resourceType") if isinstance(document, dict) else None
        found = f"a FHIR {kind}" if isinstance(kind, str) else "JSON that is not a FHIR resource"
        raise DirectoryFetchError(
            f"{shown(page)}: expected a FHIR Bundle (a search's page), found {found}; nothing imported",
            detail={},
        )
    return document


def _next(
    bundle: Mapping[str, Any], page: str, origin: tuple[str, str, int | None], seen: set[str]
) -> str | None:
    links = bundle.get("link")
    found = [
        link.get("url")
        for link in (links if isinstance(links, list) else ())
        if isinstance(link, dict) and link.get("relation") == "next"
    ]
    if not found:
        return None
    following = found[0]
    if not isinstance(following, str) or not following:
        raise DirectoryFetchError(f"{shown(page)}: a next link without a URL; nothing imported", detail={})
    following = str(httpx.URL(page).join(following))  # a relative link is relative to its page
    if _origin(following) != origin:
        raise DirectoryFetchError(
            f"{shown(page)}: the next link leaves the server ({shown(following)}); nothing imported",
            detail={},
        )
    if following in seen:
        raise DirectoryFetchError(
            f"{shown(page)}: the next link goes back to a page already read; nothing imported", detail={}
        )
    return following
