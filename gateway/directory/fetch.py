"""Fetching a directory from its FHIR server: a search's result pages, each a Bundle, followed by their
``next`` links (FHIR R4 RESTful API, "Paging").

A Carequality-style directory is served as a FHIR search (``Organization?_include=Organization:endpoint``
and the like). The pages are gathered first and read as one Bundle by
:func:`gateway.directory.fhir_import.parse_directory`, so an Endpoint on another page than its Organization
(as ``_include`` may put it) is still found, and nothing is imported unless every page arrived.

What a directory server can make this do is bounded: HTTPS only with the server's certificate and hostname
checked (:func:`gateway.security.service_ssl_context`), no redirects, ``next`` links only to the same origin
(scheme, host and port) as the URL asked, no page asked twice, a page count, a byte budget over all pages, a
timeout between bytes and deadlines per page and for the whole fetch (a server dripping bytes cannot hold it
forever), and only the Organization and Endpoint entries kept in memory. Every failure is a
:class:`~xca.errors.DirectoryFetchError` naming the page's URL without credentials, query or fragment (where
API keys are often passed).
"""

from __future__ import annotations

import ssl
import time
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
    """``max_pages`` pages of at most ``max_bytes`` bytes together and ``max_page_bytes`` each (a page is
    parsed whole: its size bounds the memory the parse takes); ``timeout`` seconds between bytes (and to
    connect), ``page_seconds`` for one page and ``total_seconds`` for the whole fetch."""

    max_pages: int = 1000
    max_bytes: int = 256 * 1024 * 1024
    max_page_bytes: int = 32 * 1024 * 1024
    timeout: float = 60.0
    page_seconds: float = 300.0
    total_seconds: float = 3600.0


@dataclass(frozen=True)
class FetchedDirectory:
    """Every page's Organization and Endpoint entries as one Bundle, and how many pages and bytes it took."""

    bundle: dict[str, Any]
    pages: int
    size: int


_KEPT: Final = frozenset({"Organization", "Endpoint"})


def shown(url: str) -> str:
    """``url`` as messages print it: scheme, host, port and path, without credentials, query or fragment,
    which may carry a password or an API key."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "the directory URL"
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _origin(url: str, what: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DirectoryFetchError(
            f"{what} {shown(url)} is not a usable URL (its host or port)", detail={}
        ) from None
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
    scheme, host, _ = origin = _origin(url, "the directory URL")
    if scheme != "https" or not host:
        raise DirectoryFetchError(
            f"{shown(url)}: a directory is fetched over https only (with a host name)", detail={}
        )
    if "@" in urlsplit(url).netloc:
        raise DirectoryFetchError(
            f"{shown(url)}: credentials in the URL are refused: put them in directory_auth_header", detail={}
        )
    entries: list[Any] = []
    seen: set[str] = set()
    size = 0
    page: str | None = url
    request_headers = {"Accept": _ACCEPT, **(headers or {})}
    deadline = time.monotonic() + limits.total_seconds
    with sync_client(ssl_context=ssl_context, timeout=limits.timeout, follow_redirects=False) as client:
        while page is not None:
            if len(seen) >= limits.max_pages:
                raise DirectoryFetchError(
                    f"{shown(url)}: more than {limits.max_pages} pages; nothing imported", detail={}
                )
            seen.add(page)
            page_deadline = min(deadline, time.monotonic() + limits.page_seconds)
            budget = min(limits.max_bytes - size, limits.max_page_bytes)
            content = _get(client, page, request_headers, budget, page_deadline)
            size += len(content)
            bundle = _bundle(page, content)
            del content
            entries.extend(_kept(bundle.get("entry")))
            page = _next(bundle, page, origin, seen)
    return FetchedDirectory(
        {"resourceType": "Bundle", "type": "collection", "entry": entries}, len(seen), size
    )


def _kept(entries: Any) -> list[dict[str, Any]]:
    """The entries an import reads (Organizations and Endpoints); the rest is let go page by page."""
    if not isinstance(entries, list):
        return []
    return [
        e
        for e in entries
        if isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and e["resource"].get("resourceType") in _KEPT
    ]


def _get(client: httpx.Client, page: str, headers: Mapping[str, str], budget: int, deadline: float) -> bytes:
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
                        f"{where}: the page or the directory is larger than the limit; nothing imported",
                        detail={},
                    )
                if time.monotonic() > deadline:
                    raise DirectoryFetchError(
                        f"{where}: the server sends too slowly (past the time allowed); nothing imported",
                        detail={},
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TimeoutException:
        raise DirectoryFetchError(f"{where}: no answer in time; nothing imported", detail={}) from None
    except httpx.DecodingError:
        message = f"{where}: the page's content encoding cannot be decoded; nothing imported"
        raise DirectoryFetchError(message, detail={}) from None
    except httpx.RequestError as exc:
        raise DirectoryFetchError(f"{where}: {_transport_reason(exc)}; nothing imported", detail={}) from None


def _why(status: int) -> str:
    if status in (401, 403):
        return " (refused: check directory_auth_header)"
    if 300 <= status < 400:
        return " (a redirect, not followed: give the URL it names)"
    return ""


def _transport_reason(exc: httpx.RequestError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = cause.verify_message or cause.reason or "verification failed"
            # Only an unknown issuer is a matter of trust (a private CA); an expired or misnamed certificate
            # is not fixed by trusting more.
            unknown = "issuer" in why or "self-signed" in why or "self signed" in why
            hint = "; directory_ca_file names a private CA" if unknown else ""
            return f"the server's certificate was refused ({why}{hint})"
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
    try:
        following = str(httpx.URL(page).join(following))  # a relative link is relative to its page
    except (httpx.InvalidURL, ValueError):
        raise DirectoryFetchError(
            f"{shown(page)}: a next link that is not a URL; nothing imported", detail={}
        ) from None
    if _origin(following, f"{shown(page)}: the next link") != origin:
        leaves = f"the next link leaves the server ({shown(following)})"
        raise DirectoryFetchError(f"{shown(page)}: {leaves}; nothing imported", detail={})
    if following in seen:
        raise DirectoryFetchError(
            f"{shown(page)}: the next link goes back to a page already read; nothing imported", detail={}
        )
    return following
