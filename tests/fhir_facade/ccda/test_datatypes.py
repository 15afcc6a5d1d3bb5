"""Codes (with translations and narrative references), quantities, identifiers, names, addresses, telecoms,
nullFlavors and the narrative rendering."""

from __future__ import annotations

import pytest

from fhir_facade.ccda.datatypes import (
    address,
    concept,
    data_absent,
    human_name,
    identifier,
    narrative_div,
    quantity,
    range_,
    resolve_reference,
    system_uri,
    telecom,
)
from tests.fhir_facade.ccda.helpers import make_ctx

SECTION_TEXT = (
    "<component><structuredBody><component><section><text>"
    '<content ID="c1">  Penicillin   V </content><paragraph ID="p2">Hives</paragraph>'
    "</text></section></component></structuredBody></component>"
)


@pytest.mark.parametrize(
    ("oid", "uri"),
    [
        ("2.16.840.1.113883.6.1", "http://loinc.org"),
        ("2.16.840.1.113883.6.96", "http://snomed.info/sct"),
        ("2.16.840.1.113883.6.88", "http://www.nlm.nih.gov/research/umls/rxnorm"),
        ("2.16.840.1.113883.12.292", "http://hl7.org/fhir/sid/cvx"),
        ("2.16.840.1.113883.6.69", "http://hl7.org/fhir/sid/ndc"),
        ("2.16.840.1.113883.6.90", "http://hl7.org/fhir/sid/icd-10-cm"),
        ("2.16.840.1.113883.6.103", "http://hl7.org/fhir/sid/icd-9-cm"),
        ("2.16.840.1.113883.6.12", "http://www.ama-assn.org/go/cpt"),
        ("2.16.840.1.113883.6.285", "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"),
        ("2.16.840.1.113883.6.8", "http://unitsofmeasure.org"),
        ("2.16.840.1.113883.6.101", "http://nucc.org/provider-taxonomy"),
        ("2.16.840.1.113883.5.4", "http://terminology.hl7.org/CodeSystem/v3-ActCode"),
        ("2.16.840.1.113883.5.111", "http://terminology.hl7.org/CodeSystem/v3-RoleCode"),
        ("2.16.840.1.113883.5.83", "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"),
        ("2.16.840.1.113883.5.1", "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender"),
        ("2.16.840.1.113883.5.2", "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"),
        ("2.16.840.1.113883.5.25", "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"),
        ("2.16.840.1.113883.6.238", "urn:oid:2.16.840.1.113883.6.238"),
        ("2.16.840.1.113883.3.26.1.1", "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"),
        ("2.16.840.1.113883.4.9", "http://fdasis.nlm.nih.gov"),
        ("2.16.840.1.113883.6.345", "http://va.gov/terminology/medrt"),
        ("2.16.840.1.113883.12.112", "http://terminology.hl7.org/CodeSystem/v2-0112"),
        ("1.2.3.4.5", "urn:oid:1.2.3.4.5"),
        ("6A1C0F1E-5B2D-4C3E-8F90-1A2B3C4D5E6F", "urn:uuid:6a1c0f1e-5b2d-4c3e-8f90-1a2b3c4d5e6f"),
    ],
)
def test_code_system_table(oid: str, uri: str) -> None:
    assert system_uri(oid) == uri


def test_code_with_translations_and_narrative_reference() -> None:
    ctx, _ = make_ctx(
        SECTION_TEXT + '<code code="7980" codeSystem="2.16.840.1.113883.6.88" displayName=" Penicillin  G ">'
        '<originalText><reference value="#c1"/></originalText>'
        '<translation code="70618" codeSystem="2.16.840.1.113883.6.88"/>'
        '<translation code="7980" codeSystem="2.16.840.1.113883.6.88"/>'
        '<translation code="N0000011" codeSystem="2.16.840.1.113883.6.345" displayName="Penicillins"/>'
        "</code>"
    )
    result = concept(ctx.root[1], ctx)
    assert result == {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "7980",
                "display": "Penicillin G",
            },
            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "70618"},
            {"system": "http://va.gov/terminology/medrt", "code": "N0000011", "display": "Penicillins"},
        ],
        "text": "Penicillin V",
    }


def test_null_flavored_code_keeps_translations_and_text() -> None:
    ctx, element = make_ctx(
        '<value nullFlavor="OTH"><originalText>Local thing</originalText>'
        '<translation code="L-1" codeSystem="1.2.3.4"/></value>'
    )
    assert concept(element, ctx) == {
        "coding": [{"system": "urn:oid:1.2.3.4", "code": "L-1"}],
        "text": "Local thing",
    }


def test_empty_codes_are_none_and_unresolved_references_are_counted() -> None:
    ctx, element = make_ctx('<code nullFlavor="UNK"/>')
    assert concept(element, ctx) is None
    ctx, element = make_ctx(
        '<code nullFlavor="UNK"><originalText><reference value="#missing"/></originalText></code>'
    )
    assert concept(element, ctx) is None
    ctx.finish()
    assert "did not resolve" in ctx.issues[0].message


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (
            '<value value="98.6" unit="[degF]"/>',
            {"value": 98.6, "unit": "[degF]", "system": "http://unitsofmeasure.org", "code": "[degF]"},
        ),
        (
            '<value value="120" unit="mmHg"/>',
            {"value": 120, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
        ),
        ('<value value="2" unit="1"/>', {"value": 2}),
        ('<value value="5" unit="tablet"/>', {"value": 5, "unit": "tablet"}),
        ('<value value="5" unit="puffs per day"/>', {"value": 5, "unit": "puffs per day"}),
        (
            '<value value=".5" unit="mg"/>',
            {"value": 0.5, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"},
        ),
        ('<value nullFlavor="UNK"/>', None),
    ],
)
def test_quantities(xml: str, expected: object) -> None:
    ctx, element = make_ctx(xml)
    assert quantity(element, ctx) == expected


def test_bad_quantity_is_reported_and_range_ends() -> None:
    ctx, element = make_ctx('<value value="about 5" unit="mg"/>')
    assert quantity(element, ctx) is None
    assert ctx.issues[0].code == "value"
    ctx, element = make_ctx('<value><low value="1" unit="mg"/><high value="2" unit="mg"/></value>')
    assert range_(element, ctx) == {
        "low": {"value": 1, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"},
        "high": {"value": 2, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"},
    }


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (
            '<id root="2.16.840.1.113883.4.6" extension="1234567893"/>',
            {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"},
        ),
        ('<id root="2.25.99" extension="A-1"/>', {"system": "urn:oid:2.25.99", "value": "A-1"}),
        ('<id root="2.25.99"/>', {"system": "urn:ietf:rfc:3986", "value": "urn:oid:2.25.99"}),
        (
            '<id root="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"/>',
            {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
        ),
        ('<id root="2.16.840.1.113883.4.6"/>', None),
        ('<id nullFlavor="NI"/>', None),
        ('<id extension="local-only"/>', {"value": "local-only"}),
    ],
)
def test_identifiers(xml: str, expected: object) -> None:
    _, element = make_ctx(xml)
    assert identifier(element) == expected


def test_names() -> None:
    ctx, element = make_ctx(
        '<name use="L"><prefix>Dr.</prefix><given>Ana</given><given qualifier="CL">Annie</given>'
        "<family>Example</family><family>Sample</family><suffix>III</suffix>"
        '<validTime><low value="2001"/></validTime></name>'
    )
    assert human_name(element, ctx) == {
        "use": "official",
        "prefix": ["Dr."],
        "given": ["Ana", "Annie"],
        "family": "Example Sample",
        "suffix": ["III"],
        "period": {"start": "2001"},
    }
    ctx, element = make_ctx("<name>  Jo   Plain </name>")
    assert human_name(element, ctx) == {"text": "Jo Plain"}
    ctx, element = make_ctx('<name nullFlavor="UNK"/>')
    assert human_name(element, ctx) is None


def test_addresses() -> None:
    ctx, element = make_ctx(
        '<addr use="WP PST"><streetAddressLine>1 Main St</streetAddressLine><streetAddressLine>Suite 2'
        "</streetAddressLine><city>Town</city><county>Shire</county><state>VT</state><postalCode>05001</postalCode>"
        '<country>US</country><useablePeriod><low value="2020"/></useablePeriod></addr>'
    )
    assert address(element, ctx) == {
        "use": "work",
        "type": "postal",
        "line": ["1 Main St", "Suite 2"],
        "city": "Town",
        "district": "Shire",
        "state": "VT",
        "postalCode": "05001",
        "country": "US",
        "period": {"start": "2020"},
    }
    ctx, element = make_ctx('<addr><streetAddressLine nullFlavor="UNK"/></addr>')
    assert address(element, ctx) is None


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (
            '<telecom value="tel:+1-555-0100" use="HP"/>',
            {"system": "phone", "value": "+1-555-0100", "use": "home"},
        ),
        (
            '<telecom value="tel:555-0100" use="MC"/>',
            {"system": "phone", "value": "555-0100", "use": "mobile"},
        ),
        ('<telecom value="fax:555-0101" use="WP"/>', {"system": "fax", "value": "555-0101", "use": "work"}),
        ('<telecom value="mailto:a@example.org"/>', {"system": "email", "value": "a@example.org"}),
        ('<telecom value="https://example.org/p"/>', {"system": "url", "value": "https://example.org/p"}),
        ('<telecom value="555 0100"/>', {"system": "phone", "value": "555 0100"}),
        ('<telecom value="tel:"/>', None),
        ('<telecom nullFlavor="UNK"/>', None),
    ],
)
def test_telecoms(xml: str, expected: object) -> None:
    _, element = make_ctx(xml)
    assert telecom(element) == expected


@pytest.mark.parametrize(
    ("flavor", "code"),
    [("UNK", "unknown"), ("ASKU", "asked-unknown"), ("MSK", "masked"), ("NA", "not-applicable")],
)
def test_null_flavor_to_data_absent_reason(flavor: str, code: str) -> None:
    _, element = make_ctx(f'<value nullFlavor="{flavor}"/>')
    assert data_absent(element) == {
        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
        "valueCode": code,
    }


def test_narrative_rendering_is_safe_xhtml() -> None:
    _, text = make_ctx(
        '<text><!-- note --><paragraph styleCode="Bold" onclick="x()">A &amp; B<br/></paragraph>'
        '<list listType="ordered"><caption>Meds</caption><item ID="i1">one</item></list>'
        '<table border="1"><tr><td colspan="2" style="color:red">c</td></tr></table>'
        '<linkHtml href="javascript:alert(1)">bad</linkHtml><linkHtml href="https://example.org">ok</linkHtml>'
        '<renderMultiMedia referencedObject="img1"/><sub>2</sub></text>'
    )
    assert narrative_div(text) == (
        '<div xmlns="http://www.w3.org/1999/xhtml"><p class="bold">A &amp; B<br/></p>'
        '<ol><li>Meds</li><li id="i1">one</li></ol><table><tr><td colspan="2">c</td></tr></table>'
        '<span>bad</span><a href="https://example.org">ok</a>'
        "<span>[multimedia not shown]</span><sub>2</sub></div>"
    )
    _, empty = make_ctx("<text>   </text>")
    assert narrative_div(empty) is None


def test_narrative_ids_keep_their_place_among_other_attributes() -> None:
    # Tags with an ID reuse the remembered rendering of the same tag without it: the id must still come first,
    # an empty ID must vanish, and an empty element must stay empty.
    _, text = make_ctx(
        '<text><content ID=" c1 " styleCode="Bold">a</content><content styleCode="Bold" ID="c2">b</content>'
        '<content ID="">c</content><content ID="c3"/><table><tr ID="r1"><td ID="d1" colspan="2">d</td>'
        '<td colspan="2">e</td></tr></table></text>'
    )
    assert narrative_div(text) == (
        '<div xmlns="http://www.w3.org/1999/xhtml"><span id="c1" class="bold">a</span>'
        '<span id="c2" class="bold">b</span><span>c</span><span id="c3"></span>'
        '<table><tr id="r1"><td id="d1" colspan="2">d</td><td colspan="2">e</td></tr></table></div>'
    )


def test_narrative_references_resolve_in_nested_sections_first_in_document_order() -> None:
    # The index walks the body's sections, nested ones included (deeper than any spelled-out level), and an
    # ID sent twice resolves to its first occurrence in document order, as a document-wide search found it.
    deep = '<section><text><content ID="dup">later</content><content ID="deep">six down</content></text>'
    for _ in range(5):
        deep = f"<section><text>level</text><component>{deep}</section></component>"
    ctx, _ = make_ctx(
        "<component><structuredBody>"
        '<component><section><text><paragraph ID="dup">first</paragraph></text></section></component>'
        f"<component>{deep}</section></component>"
        "</structuredBody></component>"
    )
    assert resolve_reference("#dup", ctx) == "first"
    assert resolve_reference("#deep", ctx) == "six down"
    assert resolve_reference("#absent", ctx) is None


def test_list_and_table_renderings_are_the_same_when_remembered() -> None:
    # The second rendering of each start tag comes from memory: the containers it opens must still decide
    # how captions and closing tags render.
    _, text = make_ctx(
        '<text><table border="9"><caption>T</caption><tr><td><list listType="ordered"><caption>L</caption>'
        "<item>x</item></list></td></tr></table><list><caption>U</caption><item>y</item></list>"
        '<table border="9"><caption>T2</caption></table></text>'
    )
    expected = (
        '<div xmlns="http://www.w3.org/1999/xhtml"><table><caption>T</caption><tr><td><ol><li>L</li>'
        "<li>x</li></ol></td></tr></table><ul><li>U</li><li>y</li></ul>"
        "<table><caption>T2</caption></table></div>"
    )
    assert narrative_div(text) == expected
    assert narrative_div(text) == expected
