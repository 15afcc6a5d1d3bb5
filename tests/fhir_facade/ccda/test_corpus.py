"""The public C-CDA corpus (../shared/corpus/ccda): every full document converts, every Bundle validates
against the FHIR R4B models, and the structured entries of the converted sections become resources.

Prints the documents count, the share of valid Bundles, the median conversion time and the recall of the
implemented sections (entries that produced at least one resource / entries seen). Files whose root is not an
HL7 v3 ClinicalDocument (guide fragments: sections, entries, stubbed examples) are counted as fragments.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from fhir_facade.ccda.convert import convert_ccda
from xca.errors import NotClinicalDocumentError, XmlRefusedError

MIN_RECALL = 0.95


@pytest.fixture(scope="module")
def corpus(shared_dir: Path) -> list[Path]:
    folder = shared_dir / "corpus" / "ccda"
    if not folder.is_dir():
        pytest.skip(f"C-CDA corpus {folder} is absent")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".xml", ".ccda"))


def test_corpus_converts_validates_and_keeps_entries(
    corpus: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    documents = fragments = valid = seen = converted = 0
    unreadable: list[str] = []
    crashed: list[str] = []
    invalid: list[str] = []
    times: list[float] = []
    per_section: dict[str, list[int]] = {}
    for path in corpus:
        try:
            result = convert_ccda(path.read_bytes(), source_name=path.name)
        except NotClinicalDocumentError:
            fragments += 1
            continue
        except XmlRefusedError as exc:
            unreadable.append(f"{path.name}: {exc.code}")
            continue
        except Exception as exc:  # the assertion below lists every document that crashed
            crashed.append(f"{path}: {type(exc).__name__}: {exc}")
            continue
        documents += 1
        times.append(result.stats.ms)
        seen += result.stats.entries_seen
        converted += result.stats.entries_converted
        for name, stats in result.stats.sections.items():
            counts = per_section.setdefault(name, [0, 0])
            counts[0] += stats.seen
            counts[1] += stats.converted
        try:
            Bundle.model_validate(result.bundle)
            valid += 1
        except ValidationError as exc:
            invalid.append(f"{path}: {exc.errors()[0]['loc']} {exc.errors()[0]['type']}")
    recall = converted / seen if seen else 1.0
    with capsys.disabled():
        print(
            f"\nC-CDA corpus: {len(corpus)} files, {documents} documents, {fragments} fragments, "
            f"{len(unreadable)} unreadable {unreadable}\n"
            f"  converted {documents - len(crashed)}/{documents}, valid {valid}/{documents} "
            f"({valid / max(documents, 1):.1%}), median {statistics.median(times or [0]):.2f} ms/document\n"
            f"  recall {converted}/{seen} = {recall:.1%} "
            + ", ".join(f"{name} {c}/{s}" for name, (s, c) in sorted(per_section.items()))
        )
    assert not crashed, crashed[:10]
    assert not invalid, invalid[:10]
    assert documents > 0
    assert recall >= MIN_RECALL
