"""Reading: byte-order marks, undeclared Windows-1252, stylesheet instructions, undeclared prefixes, and what
is refused (not XML, DTDs, not a ClinicalDocument)."""

from __future__ import annotations

import pytest

from fhir_facade.ccda.cda import V3, child, text_of
from fhir_facade.ccda.read import read_ccda
from tests.fhir_facade.ccda.helpers import fixture_bytes
from xca.errors import NotClinicalDocumentError, XmlDtdForbiddenError, XmlSyntaxError

MINIMAL = b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title>Caf\xc3\xa9 note</title></ClinicalDocument>'


def _title(data: bytes) -> str | None:
    return text_of(child(read_ccda(data).root, "title"))


def test_plain_document_needs_no_repair() -> None:
    read = read_ccda(fixture_bytes("synthetic_ccd.xml"))
    assert read.root.tag == V3 + "ClinicalDocument"
    assert read.repairs == ()


@pytest.mark.parametrize(
    "data",
    [
        b"\xef\xbb\xbf" + MINIMAL,
        b'<?xml version="1.0" encoding="UTF-8"?>\n<?xml-stylesheet type="text/xsl" href="cda.xsl"?>\n'
        + MINIMAL,
        b"\xef\xbb\xbf<?xml version='1.0'?><?xml-stylesheet href='x.xsl'?>" + MINIMAL,
        b"\xff\xfe" + MINIMAL.decode().encode("utf-16-le"),
    ],
)
def test_bom_and_stylesheet_forms(data: bytes) -> None:
    assert _title(data) == "Café note"


@pytest.mark.parametrize(
    "data",
    [
        MINIMAL.replace("é".encode(), b"\xe9"),  # Latin-1 / Windows-1252 bytes, no declaration
        b'<?xml version="1.0" encoding="UTF-8"?>'
        + MINIMAL.replace("é".encode(), b"\xe9"),  # declared wrongly
    ],
)
def test_windows_1252_without_declaration_is_decoded(data: bytes) -> None:
    read = read_ccda(data)
    assert text_of(child(read.root, "title")) == "Café note"
    assert read.repairs == ("windows-1252",)


def test_windows_1252_punctuation() -> None:
    data = MINIMAL.replace("Caf\u00e9".encode(), b"\x93Quoted\x94 \x96 dash")
    assert _title(data) == "\u201cQuoted\u201d \u2013 dash note"


def test_undeclared_prefixes_are_declared() -> None:
    data = (
        b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title>T</title>'
        b'<value xsi:type="CD" code="1"/><sdtc:raceCode code="2"/></ClinicalDocument>'
    )
    read = read_ccda(data)
    assert read.repairs == ("namespaces:sdtc,xsi",)
    assert read.root.find("{urn:hl7-org:sdtc}raceCode") is not None


def test_schema_location_written_as_namespace_declaration() -> None:
    data = b'<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:schemaLocation="urn:hl7-org:v3 CDA.xsd"/>'
    assert read_ccda(data).repairs == ("schemaLocation",)


@pytest.mark.parametrize(
    "data",
    [
        b'<section xmlns="urn:hl7-org:v3"><title>x</title></section>',
        b"<ClinicalDocument><title>no namespace</title></ClinicalDocument>",
        b'<Message xmlns="urn:hl7-org:v3"/>',
    ],
)
def test_not_a_clinical_document(data: bytes) -> None:
    with pytest.raises(NotClinicalDocumentError) as caught:
        read_ccda(data)
    assert caught.value.code == "HG-7001"


def test_refusals_come_from_the_hardened_parser() -> None:
    with pytest.raises(XmlSyntaxError):
        read_ccda(b"")
    with pytest.raises(XmlSyntaxError):
        read_ccda(b"<ClinicalDocument xmlns='urn:hl7-org:v3'><unclosed></ClinicalDocument>")
    with pytest.raises(XmlDtdForbiddenError):
        read_ccda(
            b'<!DOCTYPE x [<!ENTITY a "b">]><ClinicalDocument xmlns="urn:hl7-org:v3">&a;</ClinicalDocument>'
        )
