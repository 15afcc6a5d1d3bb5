"""Fixtures for the CCD writer: the CDA schema (compiled once) and a writer with the test organizations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from fhir_facade.ccda.writer import CcdResult, render_ccd
from tests.fhir_facade.ccda.writer.support import CLINIC, DEVICE, WHEN, Render


@pytest.fixture(scope="session")
def cda_schema(shared_dir: Path) -> etree.XMLSchema:
    path = shared_dir / "schemas" / "cda" / "infrastructure" / "cda" / "CDA_SDTC.xsd"
    if not path.is_file():
        pytest.skip(f"CDA schema {path} is absent from the public data folder")
    # Trusted local schema files: xs:include resolves from disk; no network.
    return etree.XMLSchema(etree.parse(str(path), etree.XMLParser(no_network=True)))


@pytest.fixture
def render() -> Render:
    def _render(resources: Sequence[dict[str, Any]] | dict[str, Any], **options: Any) -> CcdResult:
        arguments: dict[str, Any] = {
            "document_id": "2.16.840.1.113883.19.5.99.1.42",
            "author_organization": CLINIC,
            "author_device": DEVICE,
            "custodian": CLINIC,
            "effective_time": WHEN,
        }
        arguments.update(options)
        return render_ccd(resources, **arguments)

    return _render
