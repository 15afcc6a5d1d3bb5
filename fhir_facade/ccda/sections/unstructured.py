"""Unstructured documents: ``component/nonXMLBody`` → DocumentReference carrying the attachment.

A base64 body (PDF, RTF, image, ...) is kept as is; a text body is base64-encoded; a body given by reference
keeps the reference as the attachment URL. Nothing of the body is dropped: invalid base64 is reported and the
text is kept as a text attachment instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from lxml import etree

from fhir_facade.ccda.cda import attr, child
from fhir_facade.ccda.context import ConversionContext, Json

__all__ = ["attachment_of", "convert_nonxml_body"]


def attachment_of(text: etree._Element | None, ctx: ConversionContext) -> Json | None:
    """Attachment for an ED element (``mediaType``, ``representation``, inline data or ``reference``)."""
    if text is None:
        return None
    media = attr(text, "mediaType") or "text/plain"
    attachment: Json = {"contentType": media}
    inline = "".join(t for t in text.itertext() if t)  # reference is empty, so this is the inline content
    raw: bytes | None = None
    if (attr(text, "representation") or "TXT").upper() == "B64":
        compact = "".join(inline.split())
        try:
            raw = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            ctx.report("error", "invalid", "nonXMLBody base64 content is invalid; kept as text", text)
            attachment["contentType"] = "text/plain"
            raw = inline.encode("utf-8")
            compact = base64.b64encode(raw).decode("ascii")
    elif inline.strip():
        raw = inline.encode("utf-8")
        compact = base64.b64encode(raw).decode("ascii")
    if raw:
        attachment["data"] = compact
        attachment["size"] = len(raw)
        attachment["hash"] = base64.b64encode(hashlib.sha1(raw, usedforsecurity=False).digest()).decode(
            "ascii"
        )
    reference = attr(child(text, "reference"), "value")
    if reference:
        attachment["url"] = reference
    if "data" not in attachment and "url" not in attachment:
        return None
    return attachment


def convert_nonxml_body(body: etree._Element, ctx: ConversionContext, base: Json) -> Json:
    """The Composition section for an unstructured body; ``base`` carries the document-level fields
    (type, subject, author, date) the DocumentReference shares with the source document's description."""
    resource: Json = {
        "resourceType": "DocumentReference",
        "id": ctx.make_id("DocumentReference", f"body|{ctx.document_key}"),
    }
    resource.update(base)
    attachment = attachment_of(child(body, "text"), ctx)
    if attachment is None:
        ctx.report("warning", "incomplete", "nonXMLBody has no content", body)
        attachment = {"contentType": "text/plain"}
    resource["content"] = [{"attachment": attachment}]
    ctx.section_stats("unstructured").seen += 1
    ctx.section_stats("unstructured").converted += 1
    section: Json = {"title": "Unstructured document", "entry": [ctx.add(resource)]}
    return section
