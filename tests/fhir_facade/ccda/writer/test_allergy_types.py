"""The Allergy - Intolerance Observation's value: the most specific type code for the type and category.

Each code must also read back as the same type and category in the converter, which is what the round-trip
test relies on.
"""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from fhir_facade.ccda.convert import convert_ccda
from tests.fhir_facade.ccda.writer.support import Render, patient, xpath

SNOMED = "http://snomed.info/sct"
ALLERGY_OBSERVATION = "2.16.840.1.113883.10.20.22.4.7"


def _allergy(kind: str | None, category: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "code": {"coding": [{"system": SNOMED, "code": "256259004", "display": "Pollen"}]},
    }
    if kind:
        resource["type"] = kind
    if category:
        resource["category"] = [category]
    return resource


@pytest.mark.parametrize(
    ("kind", "category", "code", "read_back"),
    [
        ("allergy", "environment", "426232007", ("allergy", ["environment"])),
        ("intolerance", None, "782197009", ("intolerance", None)),
        ("intolerance", "environment", "782197009", ("intolerance", None)),
        ("allergy", None, "419199007", ("allergy", None)),
        ("intolerance", "food", "235719002", ("intolerance", ["food"])),
        (None, "environment", "420134006", (None, None)),
    ],
)
def test_type_code_is_the_most_specific_and_reads_back(
    render: Render,
    kind: str | None,
    category: str | None,
    code: str,
    read_back: tuple[str | None, list[str] | None],
) -> None:
    result = render([patient(), _allergy(kind, category)])
    assert result.warnings == ()
    root = etree.fromstring(result.document)
    observation = xpath(root, f"//v3:observation[v3:templateId/@root='{ALLERGY_OBSERVATION}']")[0]
    assert xpath(observation, "v3:value/@code") == [code]
    converted = next(
        e["resource"]
        for e in convert_ccda(result.document).bundle["entry"]
        if e["resource"]["resourceType"] == "AllergyIntolerance"
    )
    assert (converted.get("type"), converted.get("category")) == read_back
