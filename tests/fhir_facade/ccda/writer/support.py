"""Shared values and helpers for the CCD writer tests (organizations, XPath with the CDA namespaces)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lxml import etree

from fhir_facade.ccda.writer import Address, AuthoringDevice, CcdResult, Organization

V3 = {"v3": "urn:hl7-org:v3", "sdtc": "urn:hl7-org:sdtc", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
CLINIC = Organization(
    oid="2.16.840.1.113883.19.5.99",
    name="Lakeside Family Clinic",
    telecom="tel:+1-217-555-0100",
    address=Address(("100 Lakeside Drive",), "Springfield", "IL", "62704"),
)
DEVICE = AuthoringDevice(software_name="hie-gateway", manufacturer_model_name="hie-gateway 0.1")
WHEN = "2024-06-01T12:00:00-05:00"

Render = Callable[..., CcdResult]


def assert_schema_valid(schema: etree.XMLSchema, document: bytes) -> etree._Element:
    root = etree.fromstring(document)
    if not schema.validate(etree.ElementTree(root)):
        errors = "\n".join(f"line {e.line}: {e.message}" for e in list(schema.error_log)[:20])
        raise AssertionError(f"CCD fails CDA_SDTC.xsd:\n{errors}")
    return root


def section(root: etree._Element, template_root: str) -> etree._Element:
    found = root.xpath(f"//v3:section[v3:templateId/@root='{template_root}']", namespaces=V3)
    assert isinstance(found, list)
    assert len(found) == 1, f"expected one section {template_root}, found {len(found)}"
    element = found[0]
    assert isinstance(element, etree._Element)
    return element


def xpath(node: etree._Element, path: str) -> list[Any]:
    found = node.xpath(path, namespaces=V3)
    assert isinstance(found, list)
    return found


def patient(**extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"use": "official", "family": "Testperson", "given": ["Alex"]}],
        "gender": "female",
        "birthDate": "1970-05-17",
    }
    resource.update(extra)
    return resource


def xtext(node: etree._Element, path: str) -> str:
    found = node.xpath(f"string({path})", namespaces=V3)
    assert isinstance(found, str)
    return found


def assert_linked(root: etree._Element) -> int:
    """Every entry ``reference/@value`` is ``#ID`` of an element in its own section's narrative."""
    checked = 0
    for found in xpath(root, "//v3:section"):
        ids = set(xpath(found, "v3:text//@ID"))
        for value in xpath(found, "v3:entry//v3:reference/@value"):
            assert value.startswith("#"), value
            assert value[1:] in ids, f"{value} has no target in the section narrative"
            checked += 1
    return checked
