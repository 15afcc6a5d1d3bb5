"""C-CDA → FHIR over the shared corpus: hie-gateway's ``convert_ccda`` against python-fhir-converter.

Run: ``.venv/bin/python bench/bench_ccda.py [--corpus DIR] [--limit N]``. The documents are the corpus files
whose root element is an HL7 v3 ``ClinicalDocument`` (guide fragments are left out), decided by a plain
lxml parse (no DTD, no network, recovery mode) so that neither tool chooses the set. Both tools get each
file's bytes, one file at a time, in the same run:

* hie-gateway in this process (``convert_ccda(data).bundle``);
* python-fhir-converter (``CcdaRenderer().render_to_fhir(template, BytesIO(data))``, template chosen from the
  document's LOINC type, ``CCD`` when it has no template of its own) in a subprocess running
  ``fhirconv_worker.py`` inside a throw-away virtual environment, ``bench/.venv-fhirconv``, created and
  installed on the first run (python-fhir-converter pins an old typing-extensions the project's development
  environment cannot take). The worker reports per-document timings and Bundles as JSON lines.

Each tool gets one untimed warm-up conversion first (imports, template compilation). Times are wall-clock
per document (parse included, JSON serialization excluded). Afterwards every Bundle of both tools is
validated with the fhir.resources R4B models of this environment. Printed for each tool: documents converted
(no exception and a Bundle out), median and p90 ms per document, documents per second (documents / total
conversion time, one thread), Bundles valid against R4B; then the speed ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from lxml import etree

from fhir_facade.ccda.convert import convert_ccda

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[1] / "shared" / "corpus" / "ccda"
VENV = HERE / ".venv-fhirconv"
WORKER = HERE / "fhirconv_worker.py"
FHIRCONV = "python-fhir-converter==0.3.0"
V3 = "{urn:hl7-org:v3}"
# Document type (LOINC) → python-fhir-converter template; anything else converts with the CCD template.
TEMPLATES = {
    "34133-9": "CCD",
    "18842-5": "DischargeSummary",
    "11488-4": "ConsultationNote",
    "34117-2": "HistoryandPhysical",
    "11504-8": "OperativeNote",
    "28570-0": "ProcedureNote",
    "11506-3": "ProgressNote",
    "57133-1": "ReferralNote",
    "18761-7": "TransferSummary",
}


@dataclass
class Outcome:
    """One tool on one document."""

    path: str
    ok: bool
    ms: float
    error: str | None = None
    valid: bool = False


def documents(corpus: Path) -> list[tuple[Path, str]]:
    """Corpus files that are ClinicalDocuments, with the python-fhir-converter template for each."""
    # Recovery mode only to see the root of documents with a known defect (an undeclared prefix, Windows-1252
    # text): they are documents all the same, and converting them is part of the comparison.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, recover=True)
    found = []
    for path in sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() in (".xml", ".ccda")):
        try:
            root = etree.fromstring(path.read_bytes(), parser)
        except etree.XMLSyntaxError:
            continue
        if root is None or root.tag != V3 + "ClinicalDocument":
            continue
        code = root.find(V3 + "code")
        found.append((path, TEMPLATES.get(code.get("code", "") if code is not None else "", "CCD")))
    return found


def run_hie(files: list[tuple[Path, str]]) -> tuple[list[Outcome], list[bytes | None]]:
    convert_ccda(files[0][0].read_bytes())  # warm-up: imports, compiled patterns, caches
    outcomes: list[Outcome] = []
    bundles: list[bytes | None] = []
    for index, (path, _) in enumerate(files, 1):
        data = path.read_bytes()
        started = time.perf_counter()
        try:
            bundle = convert_ccda(data).bundle
        except Exception as exc:  # a failure is a result here
            outcomes.append(Outcome(str(path), False, (time.perf_counter() - started) * 1000, repr(exc)))
            bundles.append(None)
        else:
            ms = (time.perf_counter() - started) * 1000
            outcomes.append(Outcome(str(path), bundle.get("resourceType") == "Bundle", ms))
            bundles.append(orjson.dumps(bundle))
            del bundle  # freed here, not inside the next document's timed conversion
        _progress("hie-gateway", index, len(files))
    return outcomes, bundles


def ensure_venv() -> Path:
    """The worker's interpreter, creating ``bench/.venv-fhirconv`` with python-fhir-converter on first use."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    if python.exists() and stamp.exists() and stamp.read_text() == FHIRCONV:
        return python
    print(f"creating {VENV} and installing {FHIRCONV} (first run only)...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", FHIRCONV], check=True)
    stamp.write_text(FHIRCONV)
    return python


def run_fhirconv(files: list[tuple[Path, str]], spool: Path) -> list[Outcome]:
    """Convert in the worker; Bundles are spooled to ``spool`` (validated later, not while timing)."""
    python = ensure_venv()
    request = {"files": [[str(p), template] for p, template in files], "warmup": str(files[0][0])}
    outcomes: list[Outcome] = []
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    with (
        spool.open("wb") as out,
        subprocess.Popen(
            [str(python), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        ) as worker,
    ):
        assert worker.stdin is not None
        assert worker.stdout is not None
        worker.stdin.write(json.dumps(request).encode())
        worker.stdin.close()
        for raw in worker.stdout:
            line = orjson.loads(raw)
            if line.get("ready"):
                continue
            outcomes.append(Outcome(line["path"], line["ok"], line["ms"], line["error"]))
            out.write(orjson.dumps(line["bundle"]) + b"\n")
            _progress("python-fhir-converter", len(outcomes), len(files))
    if worker.returncode != 0 or len(outcomes) != len(files):
        raise SystemExit(f"the python-fhir-converter worker stopped early (exit {worker.returncode})")
    return outcomes


def validate(outcomes: list[Outcome], bundles: Iterator[bytes | None], label: str) -> None:
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    for index, (outcome, raw) in enumerate(zip(outcomes, bundles, strict=True), 1):
        bundle = orjson.loads(raw) if raw else None
        if outcome.ok and bundle:
            try:
                Bundle.model_validate(bundle)
                outcome.valid = True
            except ValidationError:
                outcome.valid = False
        _progress(f"validating {label}", index, len(outcomes))


def _spooled(spool: Path) -> Iterator[bytes | None]:
    with spool.open("rb") as lines:
        for line in lines:
            yield None if line.strip() == b"null" else line


def _progress(what: str, done: int, total: int) -> None:
    if done % 50 == 0 or done == total:
        print(f"  {what}: {done}/{total}", flush=True)


def summary(name: str, outcomes: list[Outcome]) -> dict[str, Any]:
    times = sorted(o.ms for o in outcomes)
    converted = sum(o.ok for o in outcomes)
    return {
        "tool": name,
        "converted": f"{converted}/{len(outcomes)}",
        "median": statistics.median(times),
        "p90": times[min(len(times) - 1, int(len(times) * 0.9))],
        "per_second": len(outcomes) / (sum(times) / 1000),
        "valid": f"{sum(o.valid for o in outcomes)}/{len(outcomes)}",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--limit", type=int, help="only the first N documents (a quick look)")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"corpus {args.corpus} not found", file=sys.stderr)
        return 1
    files = documents(args.corpus)[: args.limit]
    print(
        f"{len(files)} ClinicalDocuments in {args.corpus}; load average {os.getloadavg()[0]:.2f}", flush=True
    )
    hie, hie_bundles = run_hie(files)
    with tempfile.TemporaryDirectory() as tmp:
        spool = Path(tmp) / "fhirconv.jsonl"
        other = run_fhirconv(files, spool)
        validate(hie, iter(hie_bundles), "hie-gateway")
        validate(other, _spooled(spool), "python-fhir-converter")
    rows = [summary("hie-gateway", hie), summary(FHIRCONV, other)]
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}\n")
    header = f"{'tool':<30} {'converted':>10} {'median ms':>10} {'p90 ms':>9} {'docs/s':>8} {'valid R4B':>10}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['tool']:<30} {row['converted']:>10} {row['median']:>10.2f} {row['p90']:>9.2f} "
            f"{row['per_second']:>8.1f} {row['valid']:>10}"
        )
    print(
        f"\nspeed ratio (median python-fhir-converter / median hie-gateway): "
        f"{rows[1]['median'] / rows[0]['median']:.1f}x"
    )
    failures = [o for o in other if not o.ok][:5]
    for failure in failures:
        print(f"  python-fhir-converter failed on {Path(failure.path).name}: {failure.error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
