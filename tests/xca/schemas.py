"""Validation of outgoing messages against the official schemas in ../shared/schemas (compiled once)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import SHARED
from xca import ns
from xca.ns import q

SCHEMAS = SHARED / "schemas" / "ihe"
_FILES = {
    "xds": SCHEMAS / "xds" / "schema" / "all-xds.xsd",
    "PRPA_IN201305UV02": SCHEMAS
    / "hl7v3"
    / "schema"
    / "HL7V3"
    / "NE2008"
    / "multicacheschemas"
    / "PRPA_IN201305UV02.xsd",
    "PRPA_IN201306UV02": SCHEMAS
    / "hl7v3"
    / "schema"
    / "HL7V3"
    / "NE2008"
    / "multicacheschemas"
    / "PRPA_IN201306UV02.xsd",
    "soap12": SCHEMAS / "hl7v3" / "schema" / "soap-1.2-envelope.xsd",
}


@cache
def _schema(name: str) -> etree.XMLSchema:
    path: Path = _FILES[name]
    if not path.is_file():
        pytest.skip(f"official schema {path} is absent (../shared/schemas not next to the checkout)")
    # Trusted local schema files: default parser so xs:include/xs:import resolve from disk (no network).
    parser = etree.XMLParser(no_network=True)
    return etree.XMLSchema(etree.parse(str(path), parser))


def assert_valid(element: etree._Element, schema: str) -> None:
    """Validate ``element`` (a body payload, or an envelope whose body payload is validated) or fail."""
    if element.tag == q(ns.SOAP12, "Envelope"):
        body = element.find(q(ns.SOAP12, "Body"))
        assert body is not None
        assert len(body) == 1, "a SOAP Body must carry exactly one payload element"
        payload = body[0]
        # HL7 payloads use xsi:type, which the SOAP schema's lax wildcard cannot resolve: check the envelope
        # without its payload, and the payload against its own schema.
        shell = etree.fromstring(etree.tostring(element))
        shell_body = shell.find(q(ns.SOAP12, "Body"))
        assert shell_body is not None
        shell_body.remove(shell_body[0])
        _assert(_schema("soap12"), shell)
        element = payload
    _assert(_schema(schema), element)


def _assert(compiled: etree.XMLSchema, element: etree._Element) -> None:
    document = etree.ElementTree(etree.fromstring(etree.tostring(element)))
    if not compiled.validate(document):
        errors = "\n".join(f"line {e.line}: {e.message}" for e in compiled.error_log)
        raise AssertionError(f"schema validation failed:\n{errors}")
