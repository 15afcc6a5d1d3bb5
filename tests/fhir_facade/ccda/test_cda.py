"""Tree navigation: the per-conversion child index answers exactly as plain lxml lookups do, and readable
XPaths name HL7 v3, SDTC and foreign steps."""

from __future__ import annotations

from lxml import etree

from fhir_facade.ccda.cda import child, children, has_template, indexed_lookups, path_of, template_ids

DOCUMENT = (
    b'<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:sdtc="urn:hl7-org:sdtc" xmlns:x="urn:example">'
    b'<templateId root="1.2"/><!-- a comment --><templateId root="1.3"/>'
    b'<component><section><id root="a"/><id root="b"/><sdtc:raceCode code="r"/><x:note/>'
    b"<code/><text>t</text></section></component></ClinicalDocument>"
)


def _lookups(root: etree._Element) -> list[object]:
    section = child(root, "component", "section")
    assert section is not None
    return [
        section,
        child(root, "component", "missing", "deeper"),
        child(section, "text"),
        [e.get("root") for e in children(section, "id")],
        list(children(section, "raceCode")),  # an SDTC element is not the HL7 v3 name
        list(children(None, "id")),
        child(None, "id"),
        template_ids(root),
        has_template(root, "1.3"),
        has_template(section, "1.3"),
    ]


def test_indexed_lookups_agree_with_plain_lookups() -> None:
    root = etree.fromstring(DOCUMENT)
    plain = _lookups(root)
    with indexed_lookups():
        indexed = _lookups(root)
        again = _lookups(root)
    assert indexed == plain == again
    assert plain[3] == ["a", "b"]
    assert plain[7] == ("1.2", "1.3")


def test_index_ends_with_its_block() -> None:
    root = etree.fromstring(DOCUMENT)
    with indexed_lookups():
        assert child(root, "component") is not None
    root.remove(root[-1])  # outside the block lookups see the tree as it is now
    assert child(root, "component") is None


def test_path_of_names_each_namespace() -> None:
    root = etree.fromstring(DOCUMENT)
    section = child(root, "component", "section")
    assert section is not None
    assert path_of(section[1]) == "/ClinicalDocument/component/section/id[2]"
    assert path_of(section[2]) == "/ClinicalDocument/component/section/sdtc:raceCode"
    assert path_of(section[3]) == "/ClinicalDocument/component/section/ns:note"
    assert path_of(root) == "/ClinicalDocument"
