"""Worker for ``bench_ccda.py``: converts C-CDA files with python-fhir-converter, one JSON line per file.

Runs inside the benchmark's own throw-away virtual environment (``bench/.venv-fhirconv``), never in the
project's: python-fhir-converter pins dependency versions the project's development environment cannot take.
Uses only the standard library and python-fhir-converter.

Input (stdin): a JSON object ``{"files": [[path, template], ...], "warmup": path}``. Output (stdout): one
line ``{"ready": true}`` after converting the warm-up file once with every template the files use (template
loading and compilation are not timed), then
per file ``{"path", "ok", "ms", "error", "bundle"}``: ``ms`` is the wall time of ``render_to_fhir`` on the
file's bytes (parsing included, JSON serialization not), ``ok`` is true when it returned a Bundle.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path

from fhir_converter.renderers import CcdaRenderer


def main() -> int:
    request = json.load(sys.stdin)
    renderer = CcdaRenderer()
    warmup = Path(request["warmup"]).read_bytes()
    for template in sorted({template for _, template in request["files"]}):
        # A failing warm-up conversion has still loaded and compiled the template.
        with contextlib.suppress(Exception):
            renderer.render_to_fhir(template, io.BytesIO(warmup))
    print(json.dumps({"ready": True}), flush=True)
    for path, template in request["files"]:
        data = Path(path).read_bytes()
        line: dict[str, object] = {"path": path, "ok": False, "ms": 0.0, "error": None, "bundle": None}
        started = time.perf_counter()
        try:
            bundle = renderer.render_to_fhir(template, io.BytesIO(data))
        except Exception as exc:  # every failure is a result to report, not a reason to stop
            line["ms"] = (time.perf_counter() - started) * 1000
            line["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        else:
            line["ms"] = (time.perf_counter() - started) * 1000
            is_bundle = isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle"
            line["ok"] = is_bundle
            line["bundle"] = bundle if is_bundle else None
            if not is_bundle:
                line["error"] = "no Bundle returned"
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
