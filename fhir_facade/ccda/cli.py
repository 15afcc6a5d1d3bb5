"""``hiegate convert FILE... [--out DIR] [--consolidate] [--stats] [--strict]``.

One Bundle per input: with ``--out`` each input gets its own file, ``<out>/<path relative to the inputs'
common folder>.json`` (so ``a/ccd.xml`` and ``b/ccd.xml`` never overwrite each other); without it the
Bundles go to stdout, one compact JSON per line. ``--stats`` writes one JSON line per input
(``{"file","ok","resources","ms","issues"}``) to stdout, or to stderr when stdout carries the Bundles.
Inputs are converted one at a time, so thousands in one call take memory for one document.

``--consolidate`` converts every input (same per-input ``--stats`` lines), then writes one consolidated
Bundle of all the readable ones (the inputs are about one patient; see ``fhir_facade.ccda.consolidate``): to
stdout, or to ``<out>/consolidated.json`` with the report in ``<out>/consolidation-report.json``. ``--stats``
adds one summary line (``{"consolidated": true, "documents", "resources_in", "resources", "merged",
"conflicts", "possible_duplicates", "ms"}``); ``--strict`` also validates the consolidated Bundle.

Exit status: 0 when every input was read (issues inside a document do not change it), 1 when at least one
could not be read or is not a ClinicalDocument (or, with ``--consolidate``, none could, or the consolidated
Bundle fails ``--strict``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING

import orjson

from xca.errors import HieGatewayError

if TYPE_CHECKING:
    from fhir_facade.ccda.convert import ConversionResult
    from gateway.config import Settings

__all__ = ["add_convert_commands", "output_paths"]


def add_convert_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``convert`` on the ``hiegate`` command line."""
    convert = commands.add_parser("convert", help="convert C-CDA documents to FHIR R4 Bundles")
    convert.add_argument("files", nargs="+", type=Path, metavar="FILE", help="C-CDA XML documents")
    convert.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write each Bundle under DIR at the input's path below the inputs' common folder, with .json "
        "appended (a/ccd.xml and b/ccd.xml give DIR/a/ccd.xml.json and DIR/b/ccd.xml.json)",
    )
    convert.add_argument(
        "--consolidate",
        action="store_true",
        help="one de-duplicated Bundle for all inputs (one patient): stdout or <out>/consolidated.json",
    )
    convert.add_argument("--stats", action="store_true", help="one JSON line of statistics per input")
    convert.add_argument(
        "--strict", action="store_true", help="validate each Bundle with the FHIR R4B models"
    )
    convert.set_defaults(handler=_convert)


def output_paths(files: list[Path], out: Path) -> dict[Path, Path]:
    """Output file per input: the input's path below the inputs' common folder, ``.json`` appended."""
    absolute = [f.absolute() for f in files]
    common = Path(os.path.commonpath([str(a.parent) for a in absolute]))
    return {f: out / (str(a.relative_to(common)) + ".json") for f, a in zip(files, absolute, strict=True)}


def _convert(args: argparse.Namespace, settings: Settings) -> int:
    from fhir_facade.ccda.convert import convert_ccda

    files: list[Path] = list(dict.fromkeys(args.files))
    targets = output_paths(files, args.out) if args.out and not args.consolidate else {}
    converted: list[ConversionResult] = []
    stats_stream: IO[str] = sys.stdout if args.out else sys.stderr
    failed = 0
    for path in files:
        line: dict[str, object] = {"file": str(path), "ok": False, "resources": 0, "ms": 0.0, "issues": 0}
        try:
            result = convert_ccda(
                path.read_bytes(),
                source_name=path.name,
                strict=args.strict,
                source_url=path.absolute().as_uri(),
                max_bytes=settings.xml_max_bytes,
            )
        except (OSError, HieGatewayError) as exc:
            failed += 1
            message = str(exc) if isinstance(exc, HieGatewayError) else f"cannot read: {exc.strerror}"
            print(f"hiegate: {path}: {message}", file=sys.stderr)
            line["error"] = message
        else:
            payload = result.json()
            if args.consolidate:
                converted.append(result)
            elif args.out:
                target = targets[path]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(payload)
            else:
                sys.stdout.buffer.write(payload + b"\n")
                sys.stdout.flush()
            line.update(
                ok=True,
                resources=result.stats.resources,
                ms=round(result.stats.ms, 3),
                issues=len(result.issues),
            )
        if args.stats:
            print(orjson.dumps(line).decode(), file=stats_stream, flush=True)
    if args.consolidate:
        return _consolidate(args, converted, stats_stream) or (1 if failed else 0)
    return 1 if failed else 0


def _consolidate(args: argparse.Namespace, converted: list[ConversionResult], stats_stream: IO[str]) -> int:
    """Write the consolidated Bundle (and report); a non-zero status when there is nothing to write."""
    from fhir_facade.ccda.consolidate import consolidate

    if not converted:
        print("hiegate: no readable input to consolidate", file=sys.stderr)
        return 1
    try:
        result = consolidate(converted, strict=args.strict)
    except HieGatewayError as exc:
        print(f"hiegate: consolidated Bundle: {exc}", file=sys.stderr)
        return 1
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "consolidated.json").write_bytes(result.json())
        (args.out / "consolidation-report.json").write_bytes(
            orjson.dumps(result.report.to_json(), option=orjson.OPT_INDENT_2)
        )
    else:
        sys.stdout.buffer.write(result.json() + b"\n")
        sys.stdout.flush()
    if args.stats:
        summary = {"consolidated": True, **result.report.summary(), "ms": round(result.ms, 3)}
        print(orjson.dumps(summary).decode(), file=stats_stream, flush=True)
    return 0
