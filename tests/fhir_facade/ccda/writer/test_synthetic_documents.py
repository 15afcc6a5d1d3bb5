"""Documents written from many synthetic records: schema-valid, linked narrative, stable bytes."""

from __future__ import annotations

import copy

import pytest
from lxml import etree

from fhir_facade.ccda.writer import render_ccd, synthetic_record
from tests.fhir_facade.ccda.writer.support import (
    CLINIC,
    DEVICE,
    WHEN,
    Render,
    assert_linked,
    assert_schema_valid,
    xpath,
)

SEEDS = range(30)
# Section templateId → the entry templateIds (root, extension) its entries must carry.
ENTRY_TEMPLATES = {
    "2.16.840.1.113883.10.20.22.2.6.1": ("2.16.840.1.113883.10.20.22.4.30", "2015-08-01"),
    "2.16.840.1.113883.10.20.22.2.1.1": ("2.16.840.1.113883.10.20.22.4.16", "2014-06-09"),
    "2.16.840.1.113883.10.20.22.2.5.1": ("2.16.840.1.113883.10.20.22.4.3", "2015-08-01"),
    "2.16.840.1.113883.10.20.22.2.2.1": ("2.16.840.1.113883.10.20.22.4.52", "2015-08-01"),
    "2.16.840.1.113883.10.20.22.2.4.1": ("2.16.840.1.113883.10.20.22.4.26", "2015-08-01"),
    "2.16.840.1.113883.10.20.22.2.3.1": ("2.16.840.1.113883.10.20.22.4.1", "2015-08-01"),
    "2.16.840.1.113883.10.20.22.2.7.1": ("2.16.840.1.113883.10.20.22.4.14", "2014-06-09"),
    "2.16.840.1.113883.10.20.22.2.22.1": ("2.16.840.1.113883.10.20.22.4.49", "2015-08-01"),
}


@pytest.fixture(scope="module", params=SEEDS, ids=lambda seed: f"seed{seed}")
def written(request: pytest.FixtureRequest) -> tuple[int, bytes, etree._Element]:
    seed = int(request.param)
    result = render_ccd(
        synthetic_record(seed),
        document_id=f"synthetic-{seed}",
        author_organization=CLINIC,
        author_device=DEVICE,
        custodian=CLINIC,
        effective_time=WHEN,
    )
    assert result.warnings == (), "synthetic records use only what the writer can express"
    return seed, result.document, etree.fromstring(result.document)


def test_validates_against_cda_sdtc_schema(
    written: tuple[int, bytes, etree._Element], cda_schema: etree.XMLSchema
) -> None:
    assert_schema_valid(cda_schema, written[1])


def test_every_reference_points_into_its_own_section_narrative(
    written: tuple[int, bytes, etree._Element],
) -> None:
    root = written[2]
    assert len(xpath(root, "//v3:section")) >= 6
    assert assert_linked(root) > 20


def test_entries_carry_their_r21_templates(written: tuple[int, bytes, etree._Element]) -> None:
    root = written[2]
    for section_root, (entry_root, extension) in ENTRY_TEMPLATES.items():
        for section in xpath(root, f"//v3:section[v3:templateId/@root='{section_root}']"):
            for entry in xpath(section, "v3:entry/*"):
                templates = {(t.get("root"), t.get("extension")) for t in xpath(entry, "v3:templateId")}
                assert (entry_root, extension) in templates, (section_root, templates)


def test_every_entry_has_an_id_and_structured_code(written: tuple[int, bytes, etree._Element]) -> None:
    root = written[2]
    for entry in xpath(root, "//v3:entry/*"):
        assert xpath(entry, "v3:id[@root and @extension]"), etree.tostring(entry)[:200]
    for coded in xpath(root, "//v3:entry//*[v3:originalText]"):
        assert coded.get("code"), etree.tostring(coded)[:200]
        assert coded.get("codeSystem"), etree.tostring(coded)[:200]


def test_same_input_gives_identical_bytes(written: tuple[int, bytes, etree._Element], render: Render) -> None:
    seed, document, _ = written
    record = synthetic_record(seed)
    again = render(copy.deepcopy(record), document_id=f"synthetic-{seed}").document
    assert again == document
    assert render(record, document_id=f"synthetic-{seed}").document == again
