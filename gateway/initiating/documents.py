"""What a pull makes of one retrieved document, on the conversion thread: a C-CDA converted to FHIR; anything
else (a PDF, an image, a C-CDA the converter refuses, whose error code is kept) described by one
DocumentReference (:func:`fhir_facade.documents.describe_document`), so the record lists every document."""

from __future__ import annotations

from dataclasses import dataclass

from fhir_facade.ccda.convert import convert_ccda
from fhir_facade.documents import describe_document
from gateway.initiating.jobs.plans import DocumentToConvert
from gateway.initiating.models import DocumentState
from xca.errors import HieGatewayError
from xca.ids import is_oid

__all__ = ["Converted", "convert_document", "is_convertible"]

_CONVERTIBLE = ("xml",)


def is_convertible(media_type: str) -> bool:
    """Whether the converter is given documents of ``media_type`` (C-CDA travels as XML)."""
    return media_type.lower().endswith(_CONVERTIBLE)


@dataclass(frozen=True)
class Converted:
    state: DocumentState
    resources: list[dict[str, object]]
    error_code: str | None = None


def convert_document(content: bytes, held: DocumentToConvert, community_name: str | None) -> Converted:
    """``content`` (the bytes of ``held``) as FHIR resources: converted, or described when it cannot be."""
    error_code = None
    if is_convertible(held.media_type):
        # The source is named by its XDS uniqueId, the same in every database: conversion stays deterministic.
        url = f"urn:oid:{held.unique_id}" if is_oid(held.unique_id) else None
        try:
            result = convert_ccda(content, source_url=url)
        except HieGatewayError as exc:
            error_code = exc.code
        else:
            return Converted(
                DocumentState.CONVERTED, [e["resource"] for e in result.bundle.get("entry") or ()]
            )
    described = describe_document(
        content,
        unique_id=held.unique_id,
        media_type=held.media_type,
        home_community_id=held.home_community_id,
        community_name=community_name,
        title=held.title,
        type_code=held.type_code,
        type_code_system=held.type_code_system,
        type_code_display=held.type_code_display,
        creation_time=held.creation_time,
    )
    return Converted(DocumentState.STORED, [described], error_code)
