"""MTOM/XOP multipart/related: strict writer, tolerant zero-copy reader, XOP resolution, refused framings."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from xca import ns
from xca.errors import InvalidValueError, MtomFormatError, UnexpectedMessageError
from xca.mtom import (
    Attachment,
    cid_href,
    parse_content_type,
    read_mtom,
    read_soap_message,
    resolve_cid,
    resolve_xop,
    write_mtom,
)
from xca.ns import q
from xca.safexml import parse_xml

ROOT = b'<?xml version="1.0" encoding="UTF-8"?><r xmlns:xop="http://www.w3.org/2004/08/xop/include"/>'
WCF_BOUNDARY = "uuid:0b3f4f1c-7a1e-4b7c-9f3e-2d1c5b6a7e8f+id=1"
WCF_CONTENT_TYPE = (
    'multipart/related; type="application/xop+xml";start="<http://tempuri.org/0>";'
    f'boundary="{WCF_BOUNDARY}";start-info="application/soap+xml"'
)


def _wcf_body(root_xml: bytes, content: bytes) -> bytes:
    """A WCF-style message written by hand: Content-IDs are URLs, hrefs are %-encoded."""
    return (
        (
            f"--{WCF_BOUNDARY}\r\n"
            "Content-ID: <http://tempuri.org/0>\r\nContent-Transfer-Encoding: 8bit\r\n"
            'Content-Type: application/xop+xml;charset=utf-8;type="application/soap+xml"\r\n\r\n'
        ).encode()
        + root_xml
        + (
            f"\r\n--{WCF_BOUNDARY}\r\n"
            "Content-ID: <http://tempuri.org/1/634567890123456789>\r\nContent-Transfer-Encoding: binary\r\n"
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{WCF_BOUNDARY}--\r\n".encode()
    )


def test_writer_emits_the_framing_strict_peers_expect() -> None:
    body, content_type = write_mtom(
        b"<root/>",
        [Attachment("doc1@example", b"DATA", "text/xml")],
        boundary="B1",
        root_content_id="root@example",
    )
    assert content_type == (
        'multipart/related; boundary="B1"; type="application/xop+xml"; start="<root@example>"; '
        'start-info="application/soap+xml"'
    )
    assert body == (
        b"--B1\r\n"
        b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
        b"Content-Transfer-Encoding: binary\r\nContent-ID: <root@example>\r\n\r\n"
        b"<root/>\r\n"
        b"--B1\r\nContent-Type: text/xml\r\nContent-Transfer-Encoding: binary\r\n"
        b"Content-ID: <doc1@example>\r\n\r\n"
        b"DATA\r\n"
        b"--B1--\r\n"
    )


@pytest.mark.parametrize("boundary", ["MIMEBoundary_test42", None])
def test_round_trip_keeps_crlf_and_boundary_like_bytes(boundary: str | None) -> None:
    tricky = (
        b"\r\n--MIMEBoundary_test4\r\n--MIMEBoundary_test43\r\n\n--\r\n\r\n"
        + bytes(range(256))
        + b"--MIMEBoundary_test4\r\n"
    )
    attachments = [Attachment("a@x", tricky), Attachment("b@x", b"\r\n"), Attachment("c@x", b"")]
    body, content_type = write_mtom(ROOT, attachments, boundary=boundary)
    message = read_mtom(body, content_type)
    assert bytes(message.root.content) == ROOT
    assert message.root.media_type == "application/xop+xml"
    assert {cid: bytes(p.content) for cid, p in message.attachments.items()} == {
        "a@x": tricky,
        "b@x": b"\r\n",
        "c@x": b"",
    }


def test_writer_refuses_a_boundary_inside_content_and_bad_ids() -> None:
    with pytest.raises(InvalidValueError, match="boundary occurs inside"):
        write_mtom(ROOT, [Attachment("a@x", memoryview(b"x\r\n--B1\r\n"))], boundary="B1")
    with pytest.raises(InvalidValueError, match="Content-ID"):
        write_mtom(ROOT, [Attachment("<a@x>", b"x")])
    with pytest.raises(InvalidValueError, match="boundary"):
        write_mtom(ROOT, boundary='bad"boundary')


def test_wcf_framing_with_url_content_ids_and_encoded_hrefs() -> None:
    href = "cid:http%3A%2F%2Ftempuri.org%2F1%2F634567890123456789"
    root_xml = f'<r xmlns:xop="{ns.XOP}"><doc><xop:Include href="{href}"/></doc></r>'.encode()
    message = read_mtom(_wcf_body(root_xml, b"%PDF-1.4\r\n\x00\xff"), WCF_CONTENT_TYPE)
    assert message.root.content_id == "http://tempuri.org/0"
    assert bytes(message.root.content) == root_xml
    resolved = resolve_xop(parse_xml(root_xml), message.attachments)
    [(element, part)] = resolved.items()
    assert element.tag == "doc"
    assert part.content_id == "http://tempuri.org/1/634567890123456789"
    assert bytes(part.content) == b"%PDF-1.4\r\n\x00\xff"


def test_lf_framing_unquoted_parameters_no_start_preamble_and_epilogue() -> None:
    body = (
        b"This is a preamble.\n--xyz\nContent-Type: application/xop+xml\n\n<r/>\n"
        b"--xyz  \ncontent-id: <a@b>\ncontent-type: text/plain\n continued\n\nline1\nline2\n"
        b"--xyz--\nepilogue --xyz\n"
    )
    message = read_mtom(body, "Multipart/Related; type=application/xop+xml; boundary=xyz")
    assert bytes(message.root.content) == b"<r/>"
    assert message.root.content_id is None
    part = message.attachments["a@b"]
    assert bytes(part.content) == b"line1\nline2"
    assert part.content_type == "text/plain continued"


def test_boundary_followed_by_other_characters_is_content() -> None:
    body = b"--b\r\n\r\n<r/>\r\n--b\r\nContent-ID: <p>\r\n\r\nx\r\n--bX\r\n--b-\r\n--b--\r\n"
    message = read_mtom(body, "multipart/related; boundary=b")
    assert bytes(message.attachments["p"].content) == b"x\r\n--bX\r\n--b-"


def test_part_without_content_keeps_its_headers() -> None:
    body = b"--b\r\n\r\n<r/>\r\n--b\r\nContent-ID: <empty>\r\n--b\r\nContent-ID: <e2>\r\n\r\n--b--"
    message = read_mtom(body, "multipart/related; boundary=b")
    assert {cid: bytes(p.content) for cid, p in message.attachments.items()} == {"empty": b"", "e2": b""}


def test_base64_transfer_encoding_is_decoded() -> None:
    body = (
        b"--b\r\nContent-ID: <r>\r\n\r\n<r/>\r\n--b\r\nContent-ID: <p>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8=\r\n--b--"
    )
    message = read_mtom(body, 'multipart/related; boundary=b; start="<r>"')
    assert bytes(message.attachments["p"].content) == b"hello"


def test_parts_are_views_into_the_body_not_copies() -> None:
    body, content_type = write_mtom(ROOT, [Attachment("a@x", b"payload" * 1000)])
    part = read_mtom(body, content_type).attachments["a@x"]
    assert isinstance(part.content, memoryview)
    assert part.content.obj is body


def test_nist_axis2_message(shared_dir: Path) -> None:
    raw = (shared_dir / "ihe" / "samples" / "nist__http-mtom-pnr.txt").read_bytes()
    head, _, body = raw.partition(b"\n\n")
    headers = dict(line.split(": ", 1) for line in head.decode().splitlines()[1:])
    message = read_mtom(body, headers["Content-Type"])
    assert message.root.content_id == "0.urn:uuid:3D4B161591CD1DEC0C1286850962203@apache.org"
    assert list(message.attachments) == ["1.urn:uuid:3D4B161591CD1DEC0C1286850962319@apache.org"]
    root = parse_xml(bytes(message.root.content))
    [(element, part)] = resolve_xop(root, message.attachments).items()
    assert element.tag == q(ns.XDSB, "Document")
    assert part.media_type == "text/plain"
    text = bytes(part.content)
    assert text.startswith(b"Four score and seven years ago")
    assert text.endswith(b"shall not perish from the earth.")


def test_content_type_parameters() -> None:
    media, params = parse_content_type(
        'Multipart/Related; BOUNDARY="a;b\\"c"; start=<x@y>;start-info="application/soap+xml"'
    )
    assert media == "multipart/related"
    assert params == {"boundary": 'a;b"c', "start": "<x@y>", "start-info": "application/soap+xml"}


def test_cid_hrefs_are_percent_encoded_and_resolved() -> None:
    assert cid_href("a b/c%@x") == "cid:a%20b%2Fc%25@x"
    body, content_type = write_mtom(ROOT, [Attachment("1.urn:uuid:ab@apache.org", b"x")])
    attachments = read_mtom(body, content_type).attachments
    for href in (
        "cid:1.urn:uuid:ab@apache.org",
        "cid:1.urn%3Auuid%3Aab%40apache.org",
        "CID:<1.urn:uuid:ab@apache.org>",
    ):
        assert bytes(resolve_cid(href, attachments).content) == b"x"


_GOOD = b"--b\r\nContent-ID: <r>\r\n\r\n<r/>\r\n--b--\r\n"


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (_GOOD, "application/soap+xml; boundary=b", "not multipart/related"),
        (_GOOD, "multipart/related; type=application/xop+xml", "no boundary"),
        (_GOOD, "multipart/related; boundary=bé", "not ASCII"),
        (_GOOD, 'multipart/related; boundary=b; start="<other>"', "missing root part"),
        (b"--b--\r\n", "multipart/related; boundary=b", "missing root part"),
        (_GOOD[:-9], "multipart/related; boundary=b", "truncated"),
        (_GOOD[:-4], "multipart/related; boundary=b", "truncated"),
        (b"<r/>", "multipart/related; boundary=b", "does not contain its boundary"),
        (b"--b\r\nno colon here\r\n\r\nx\r\n--b--", "multipart/related; boundary=b", "malformed header"),
        (
            b"--b\r\nContent-ID: <r>\r\n\r\n<r/>\r\n--b\r\nContent-ID: <r>\r\n\r\nx\r\n--b--",
            "multipart/related; boundary=b",
            "share one Content-ID",
        ),
        (
            b"--b\r\nContent-Transfer-Encoding: x-gzip\r\n\r\nx\r\n--b--",
            "multipart/related; boundary=b",
            "unsupported Content-Transfer-Encoding",
        ),
        (
            b"--b\r\nContent-Type: text/plain" + b"x" * 20000 + b"\r\n--b--",
            "multipart/related; boundary=b",
            "no blank line",
        ),
    ],
)
def test_unreadable_framings_raise_specific_errors(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(MtomFormatError, match=message):
        read_mtom(body, content_type)


def test_unknown_cid_is_refused() -> None:
    body, content_type = write_mtom(ROOT, [Attachment("a@x", b"x")])
    attachments = read_mtom(body, content_type).attachments
    root = parse_xml(f'<r xmlns:xop="{ns.XOP}"><d><xop:Include href="cid:b@x"/></d></r>'.encode())
    with pytest.raises(MtomFormatError, match="unknown cid"):
        resolve_xop(root, attachments)
    with pytest.raises(MtomFormatError, match="not a cid: URL"):
        resolve_cid("http://example.org/a@x", attachments)


def test_read_soap_message_accepts_mtom_and_plain_soap_only() -> None:
    body, content_type = write_mtom(ROOT, [Attachment("a@x", b"x")])
    mtom = read_soap_message(body, content_type)
    assert mtom.mtom
    assert set(mtom.attachments) == {"a@x"}
    plain = read_soap_message(ROOT, "application/soap+xml; charset=UTF-8")
    assert not plain.mtom
    assert plain.root.tag == "r"
    with pytest.raises(UnexpectedMessageError, match="neither SOAP nor MTOM"):
        read_soap_message(b"<html/>", "text/html")


def test_fifty_megabyte_round_trip_copies_the_payload_once() -> None:
    payload = (b"<entry>clinical text \r\n--not-a-boundary</entry>\n" * 1_100_000)[: 50 * 1024 * 1024]
    tracemalloc.start()
    try:
        body, content_type = write_mtom(ROOT, [Attachment("doc@x", payload)])
        part = read_mtom(body, content_type).attachments["doc@x"]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert part.content.obj is body
    assert part.content == payload
    # The writer's one join is the only copy; the reader adds nothing of payload size.
    assert peak < 1.2 * len(payload)
