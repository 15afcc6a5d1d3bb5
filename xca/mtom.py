"""MTOM/XOP: SOAP messages packaged as MIME multipart/related (W3C SOAP MTOM and XOP 1.0; RFC 2387, RFC 2046
§5.1, RFC 2392 ``cid:`` URLs). IHE ITI-39 and ITI-43 carry their documents this way in both directions.

Reading is tolerant of the framings real responders use (quoted or bare parameters, ``start``
absent, WCF boundaries ``uuid:...+id=1`` and Content-IDs ``<http://tempuri.org/1/...>``, URL-encoded hrefs,
CRLF or bare LF, preamble and epilogue, transport padding after a boundary) and cheap: boundaries are found
with ``bytes.find`` over the one body buffer and every part is a ``memoryview`` slice of it, so a 50 MB
document is never copied. Keep the body alive as long as a part is used. Writing is strict: the framing
Axis2, CXF and WCF expect.
"""

from __future__ import annotations

import binascii
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote, unquote

from lxml import etree

from xca import ns
from xca.errors import InvalidValueError, MtomFormatError, UnexpectedMessageError
from xca.ns import q
from xca.safexml import DEFAULT_MAX_BYTES, parse_xml

__all__ = [
    "SOAP_MEDIA_TYPE",
    "XOP_MEDIA_TYPE",
    "Attachment",
    "MimePart",
    "MtomMessage",
    "SoapMessage",
    "cid_href",
    "mtom_chunks",
    "new_content_id",
    "parse_content_type",
    "read_mtom",
    "read_soap_message",
    "resolve_cid",
    "resolve_xop",
    "write_mtom",
]

XOP_MEDIA_TYPE: Final = "application/xop+xml"
SOAP_MEDIA_TYPE: Final = "application/soap+xml"
_ROOT_PART_TYPE: Final = f'{XOP_MEDIA_TYPE}; charset=UTF-8; type="{SOAP_MEDIA_TYPE}"'
_XML_MEDIA_TYPES: Final = frozenset({SOAP_MEDIA_TYPE, "text/xml", "application/xml", XOP_MEDIA_TYPE})
_MAX_HEADER_BYTES: Final = 16 * 1024
_PARAM: Final = re.compile(r'([!#$%&\'*+.^`|~\w-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_BOUNDARY: Final = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$")
_CONTENT_ID: Final = re.compile(r"^[\x21\x23-\x3b\x3d\x3f-\x7e]+$")
_HREF_SAFE: Final = "@.-_~!$&'()*+,;=:"


@dataclass(frozen=True)
class MimePart:
    """One body part. ``content`` is a zero-copy view into the message body (bytes only if base64-encoded)."""

    content_id: str | None
    content_type: str
    content: memoryview = field(repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def media_type(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class MtomMessage:
    """A read multipart/related message: the root part and the other parts by Content-ID (no brackets)."""

    root: MimePart
    attachments: Mapping[str, MimePart] = field(repr=False)


@dataclass(frozen=True)
class SoapMessage:
    """An inbound SOAP message, MTOM-packaged or plain: the parsed root XML and any attachments."""

    root: etree._Element = field(repr=False)
    attachments: Mapping[str, MimePart] = field(default_factory=dict, repr=False)
    mtom: bool = False


@dataclass(frozen=True)
class Attachment:
    """An outgoing part, referenced from the root XML by ``xop:Include href=`` :attr:`href`."""

    content_id: str
    content: bytes | memoryview = field(repr=False)
    content_type: str = "application/octet-stream"

    @property
    def href(self) -> str:
        return cid_href(self.content_id)


def new_content_id() -> str:
    """A fresh, globally unique Content-ID (without angle brackets)."""
    return f"{uuid.uuid4().hex}@hie-gateway"


def cid_href(content_id: str) -> str:
    """The ``cid:`` URL of ``content_id`` with RFC 2392 %-encoding, for ``xop:Include/@href``."""
    return "cid:" + quote(content_id, safe=_HREF_SAFE)


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """Lower-cased media type and parameters (names lower-cased, values unquoted) of a Content-Type value."""
    media, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(rest):
        raw = match.group(2).strip()
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params.setdefault(match.group(1).lower(), raw)
    return media.strip().lower(), params


# --- reading --------------------------------------------------------------------------------------------


def read_mtom(body: bytes, content_type: str) -> MtomMessage:
    """Split a multipart/related body into its root part and attachments; raise :class:`MtomFormatError`."""
    media, params = parse_content_type(content_type)
    if media != "multipart/related":
        raise MtomFormatError("content type is not multipart/related", detail={"media_type": media[:100]})
    boundary = params.get("boundary", "")
    if not boundary:
        raise MtomFormatError("multipart/related content type has no boundary parameter")
    if not boundary.isascii():
        raise MtomFormatError("multipart boundary is not ASCII")
    if not isinstance(body, bytes):
        body = bytes(body)
    view = memoryview(body)
    parts = [
        _read_part(body, view, start, end, index) for index, (start, end) in enumerate(_split(body, boundary))
    ]
    by_id: dict[str, MimePart] = {}
    for part in parts:
        if part.content_id is not None:
            if part.content_id in by_id:
                raise MtomFormatError(
                    "two parts share one Content-ID", detail={"content_id": part.content_id}
                )
            by_id[part.content_id] = part
    start_id = _strip_id(params.get("start", ""))
    if start_id:
        root = by_id.get(start_id)
        if root is None:
            raise MtomFormatError("missing root part: no part has the Content-ID named by start")
    elif parts:
        root = parts[0]
    else:
        raise MtomFormatError("missing root part: the multipart body has no parts")
    return MtomMessage(root=root, attachments={cid: p for cid, p in by_id.items() if p is not root})


def _split(body: bytes, boundary: str) -> list[tuple[int, int]]:
    dash = b"--" + boundary.encode("ascii")
    pos = 0
    while True:  # the first delimiter starts the body or a line; anything before it is preamble
        at = body.find(dash, pos)
        if at < 0:
            raise MtomFormatError("multipart body does not contain its boundary")
        after = _after_delimiter(body, at + len(dash)) if at == 0 or body[at - 1] == 0x0A else None
        if after is not None:
            break
        pos = at + 1
    needle = b"\n" + dash
    spans: list[tuple[int, int]] = []
    start, closed = after
    search = start
    while not closed:
        if start >= len(body):
            raise MtomFormatError("multipart body is truncated: no closing boundary")
        at = body.find(needle, search)
        if at < 0:
            raise MtomFormatError("multipart body is truncated: no closing boundary")
        after = _after_delimiter(body, at + len(needle))
        if after is None:  # the boundary string followed by more characters: content, not a delimiter
            search = at + 1
            continue
        spans.append((start, at - 1 if at > start and body[at - 1] == 0x0D else at))
        start, closed = after
        search = start
    return spans


def _after_delimiter(body: bytes, index: int) -> tuple[int, bool] | None:
    """Where the next part starts and whether the delimiter was the closing one; None if not a delimiter."""
    if body.startswith(b"--", index):
        return index + 2, True
    end = len(body)
    while index < end and body[index] in b" \t":  # RFC 2046 transport padding
        index += 1
    if body.startswith(b"\r\n", index):
        return index + 2, False
    if body.startswith(b"\n", index):
        return index + 1, False
    return (index, False) if index == end else None


def _read_part(body: bytes, view: memoryview, start: int, end: int, index: int) -> MimePart:
    headers: list[tuple[str, str]] = []
    pos = start
    limit = min(end, start + _MAX_HEADER_BYTES)
    while pos < end:
        newline = body.find(b"\n", pos, limit)
        if newline < 0:
            if limit < end:
                raise MtomFormatError("MIME part has no blank line after its headers", detail={"part": index})
            newline = end  # the last header line ends at the delimiter: the part has no content
        line = body[pos:newline].rstrip(b"\r")
        pos = newline + 1
        if not line:
            break
        if line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip().decode('latin-1')}")
            continue
        name_b, colon, value_b = line.partition(b":")
        if not colon:
            raise MtomFormatError("MIME part has a malformed header line", detail={"part": index})
        headers.append((name_b.strip().decode("latin-1").lower(), value_b.strip().decode("latin-1")))
    found = dict(headers)
    content = view[pos:end] if pos < end else view[0:0]
    encoding = found.get("content-transfer-encoding", "binary").strip().lower()
    try:
        if encoding == "base64":
            content = memoryview(binascii.a2b_base64(content))
        elif encoding == "quoted-printable":
            content = memoryview(binascii.a2b_qp(content))
        elif encoding not in ("binary", "8bit", "7bit"):
            raise MtomFormatError("unsupported Content-Transfer-Encoding", detail={"part": index})
    except binascii.Error:
        raise MtomFormatError("MIME part is not valid base64", detail={"part": index}) from None
    content_id = _strip_id(found.get("content-id", "")) or None
    return MimePart(content_id, found.get("content-type", "text/plain"), content, tuple(headers))


def _strip_id(value: str) -> str:
    value = value.strip()
    return value[1:-1].strip() if value.startswith("<") and value.endswith(">") else value


def resolve_cid(href: str, attachments: Mapping[str, MimePart]) -> MimePart:
    """The part a ``cid:`` URL names (RFC 2392: %-encoded, compared after decoding)."""
    if not href.strip().lower().startswith("cid:"):
        raise MtomFormatError("xop:Include href is not a cid: URL", detail={"href": href[:200]})
    raw = href.strip()[4:]
    for candidate in (unquote(raw), raw):
        part = attachments.get(_strip_id(candidate))
        if part is not None:
            return part
    raise MtomFormatError("xop:Include references an unknown cid", detail={"href": href[:200]})


def resolve_xop(root: etree._Element, attachments: Mapping[str, MimePart]) -> dict[etree._Element, MimePart]:
    """Map each element holding an ``xop:Include`` to the part it includes; nothing is base64-encoded."""
    resolved: dict[etree._Element, MimePart] = {}
    for include in root.iter(q(ns.XOP, "Include")):
        parent = include.getparent()
        if parent is not None:
            resolved[parent] = resolve_cid(include.get("href") or "", attachments)
    return resolved


def read_soap_message(
    body: bytes, content_type: str | None, *, max_bytes: int = DEFAULT_MAX_BYTES, large_text: bool = False
) -> SoapMessage:
    """Read an HTTP body that is either MTOM/XOP or plain SOAP; the root XML goes through ``parse_xml``."""
    media = parse_content_type(content_type)[0] if content_type else SOAP_MEDIA_TYPE
    if media == "multipart/related":
        message = read_mtom(body, content_type or "")
        root = parse_xml(bytes(message.root.content), max_bytes=max_bytes, large_text=large_text)
        return SoapMessage(root=root, attachments=message.attachments, mtom=True)
    if media not in _XML_MEDIA_TYPES:
        raise UnexpectedMessageError("HTTP body is neither SOAP nor MTOM", detail={"media_type": media[:100]})
    return SoapMessage(root=parse_xml(body, max_bytes=max_bytes, large_text=large_text))


# --- writing --------------------------------------------------------------------------------------------


def mtom_chunks(
    root_xml: bytes,
    attachments: Iterable[Attachment] = (),
    *,
    boundary: str | None = None,
    root_content_id: str | None = None,
) -> tuple[list[bytes | memoryview], str]:
    """The MTOM body as chunks (attachments are not copied, for streaming) and its Content-Type value."""
    boundary = boundary or f"MIMEBoundary_{uuid.uuid4().hex}"
    root_id = root_content_id or new_content_id()
    if not _BOUNDARY.match(boundary):
        raise InvalidValueError("MIME boundary has characters or a length RFC 2046 does not allow")
    delimiter = b"--" + boundary.encode("ascii")
    chunks: list[bytes | memoryview] = []
    parts = [Attachment(root_id, root_xml, _ROOT_PART_TYPE), *attachments]
    for part in parts:
        if not _CONTENT_ID.match(part.content_id):
            raise InvalidValueError("Content-ID must be printable ASCII without spaces, quotes or brackets")
        if "\r" in part.content_type or "\n" in part.content_type:
            raise InvalidValueError("attachment content type contains a line break")
        if _contains(part.content, delimiter):
            raise InvalidValueError("the MIME boundary occurs inside a part; choose another boundary")
        head = (
            f"Content-Type: {part.content_type}\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{part.content_id}>\r\n\r\n"
        )
        chunks += [delimiter, b"\r\n", head.encode("ascii"), part.content, b"\r\n"]
    chunks += [delimiter, b"--\r\n"]
    content_type = (
        f'multipart/related; boundary="{boundary}"; type="{XOP_MEDIA_TYPE}"; start="<{root_id}>"; '
        f'start-info="{SOAP_MEDIA_TYPE}"'
    )
    return chunks, content_type


def _contains(content: bytes | memoryview, needle: bytes) -> bool:
    if isinstance(content, bytes):
        return content.find(needle) >= 0
    return re.search(re.escape(needle), content) is not None  # scans the buffer without copying it


def write_mtom(
    root_xml: bytes,
    attachments: Iterable[Attachment] = (),
    *,
    boundary: str | None = None,
    root_content_id: str | None = None,
) -> tuple[bytes, str]:
    """The MTOM/XOP HTTP body (each attachment copied once, into it) and its Content-Type header value."""
    chunks, content_type = mtom_chunks(
        root_xml, attachments, boundary=boundary, root_content_id=root_content_id
    )
    return b"".join(chunks), content_type
