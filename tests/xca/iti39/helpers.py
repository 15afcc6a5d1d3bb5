"""Shared test data for ITI-39: ids across two communities and two repositories, and XOP-aware validation."""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterable
from pathlib import Path

from lxml import etree

from tests.xca.schemas import assert_valid
from xca import ns
from xca.iti39 import DocumentRequest, RetrievedDocument
from xca.mtom import Attachment, read_mtom, resolve_cid, write_mtom
from xca.ns import q

COMMUNITY_A = "2.16.840.1.113883.3.9621"
COMMUNITY_B = "1.3.6.1.4.1.21367.13.70.200"
REPOSITORY_A = "2.16.840.1.113883.3.9621.1.1"
REPOSITORY_B = "1.3.6.1.4.1.21367.13.70.200.2"
CCDA = (
    b'<?xml version="1.0"?>\r\n<ClinicalDocument xmlns="urn:hl7-org:v3">\r\n--MIMEBoundary\r\n'
    b"</ClinicalDocument>\n"
)
PDF = b"%PDF-1.7\r\n\x00\x01\xfe\xff" + bytes(range(256)) + b"\r\n%%EOF\r\n"


def samples(shared_dir: Path, name: str) -> bytes:
    return (shared_dir / "ihe" / "samples" / name).read_bytes()


def requests() -> list[DocumentRequest]:
    return [
        DocumentRequest(COMMUNITY_A, REPOSITORY_A, "2.16.840.1.113883.3.9621.2.1001"),
        DocumentRequest(COMMUNITY_A, REPOSITORY_B, "1.3.6.1.4.1.21367.13.70.200.3.77^ext"),
        DocumentRequest(COMMUNITY_B, REPOSITORY_B, "urn:uuid:0f3c2d1e-9a8b-4c7d-8e6f-5a4b3c2d1e0f"),
    ]


def documents() -> list[RetrievedDocument]:
    return [
        RetrievedDocument(COMMUNITY_A, REPOSITORY_A, "2.16.840.1.113883.3.9621.2.1001", "text/xml", CCDA),
        RetrievedDocument(
            COMMUNITY_A, REPOSITORY_B, "1.3.6.1.4.1.21367.13.70.200.3.77^ext", "application/pdf", PDF
        ),
        RetrievedDocument(
            COMMUNITY_B,
            REPOSITORY_B,
            "urn:uuid:0f3c2d1e-9a8b-4c7d-8e6f-5a4b3c2d1e0f",
            "text/xml; charset=UTF-8",
            memoryview(CCDA),
        ),
    ]


def assert_valid_xop(element: etree._Element, attachments: Iterable[Attachment]) -> None:
    """Validate the XOP infoset: each ``xop:Include`` replaced by the base64 of its part (XOP 1.0 §3.2)."""
    attachments = tuple(attachments)
    body, content_type = write_mtom(b"<r/>", attachments)
    parts = read_mtom(body, content_type).attachments
    infoset = copy.deepcopy(element)
    for include in list(infoset.iter(q(ns.XOP, "Include"))):
        parent = include.getparent()
        assert parent is not None
        parent.remove(include)
        parent.text = base64.b64encode(resolve_cid(include.get("href") or "", parts).content).decode()
    assert_valid(infoset, "xds")
