"""Helpers for the C-CDA → FHIR tests: fixture files, bundle lookups, a context over a tiny document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lxml import etree

from fhir_facade.ccda.context import ConversionContext

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ccda"

Json = dict[str, Any]


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def resources(bundle: Json, resource_type: str) -> list[Json]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def only(bundle: Json, resource_type: str) -> Json:
    found = resources(bundle, resource_type)
    assert len(found) == 1, f"{len(found)} {resource_type} resources"
    return found[0]


def make_ctx(inner: str) -> tuple[ConversionContext, etree._Element]:
    """A context over a tiny ClinicalDocument whose content is ``inner``; returns it and the first child."""
    xml = (
        '<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xmlns:sdtc="urn:hl7-org:sdtc">{inner}</ClinicalDocument>'
    )
    root = etree.fromstring(xml.encode())
    return ConversionContext(root, "test-doc"), root[0]
