"""``convert_ccda``: one C-CDA document (bytes) → one FHIR R4 Bundle (plain dicts), issues and statistics.

The steps mirror the document: read (hardened parser, tolerant repairs) → header (Patient, authors, custodian,
Encounter) → body (sections through the registry) → document resources (Composition, source DocumentReference,
Provenance) → Bundle. Nothing in the path builds pydantic models; ``strict=True`` validates the finished
Bundle with the fhir.resources R4B models (a development extra) and raises ``ConversionValidationError`` on
failure.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fhir_facade.ccda import body, document, header
from fhir_facade.ccda.bundle import bundle, dumps, operation_outcome
from fhir_facade.ccda.cda import child, indexed_lookups
from fhir_facade.ccda.context import ConversionContext, Issue, Json, SectionStats, identity_key, reference
from fhir_facade.ccda.datatypes import identifier
from fhir_facade.ccda.read import ReadDocument, read_ccda
from xca.errors import ConversionValidationError
from xca.safexml import DEFAULT_MAX_BYTES

__all__ = ["ConversionResult", "ConversionStats", "convert_ccda", "validate_bundle"]

T = TypeVar("T")


@dataclass(frozen=True)
class ConversionStats:
    """Counts for one document; ``sections`` maps a converter name to entries seen / converted / failed."""

    resources: int
    ms: float
    sections: dict[str, SectionStats] = field(default_factory=dict)

    @property
    def entries_seen(self) -> int:
        return sum(s.seen for name, s in self.sections.items() if name != body.UNCONVERTED)

    @property
    def entries_converted(self) -> int:
        return sum(s.converted for name, s in self.sections.items() if name != body.UNCONVERTED)


@dataclass(frozen=True)
class ConversionResult:
    """The Bundle (plain JSON dicts), the issues met, and statistics."""

    bundle: Json
    issues: tuple[Issue, ...]
    stats: ConversionStats
    repairs: tuple[str, ...] = ()

    def outcome(self) -> Json:
        """The issues as an OperationOutcome (its id derived from the Bundle's)."""
        return operation_outcome(self.bundle["id"], self.issues)

    def json(self, *, indent: bool = False) -> bytes:
        return dumps(self.bundle, indent=indent)


def convert_ccda(
    data: bytes,
    *,
    source_name: str | None = None,
    strict: bool = False,
    source_url: str | None = None,
    include_outcome: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ConversionResult:
    """Convert one C-CDA document.

    Raises ``XmlRefusedError`` when the bytes are not readable XML, ``NotClinicalDocumentError`` when they are
    not a ClinicalDocument; every problem inside a document is an issue in the result instead. ``source_url``
    goes into the source DocumentReference's attachment; ``include_outcome`` adds the OperationOutcome to the
    Bundle; ``source_name`` names the input in issues about reading it.
    """
    started = time.perf_counter()
    read = read_ccda(data, max_bytes=max_bytes)
    with indexed_lookups():
        return _convert(data, read, started, source_name, strict, source_url, include_outcome)


def _convert(
    data: bytes,
    read: ReadDocument,
    started: float,
    source_name: str | None,
    strict: bool,
    source_url: str | None,
    include_outcome: bool,
) -> ConversionResult:
    root = read.root
    key = identity_key(root) or "sha256|" + hashlib.sha256(data).hexdigest()
    ctx = ConversionContext(root, key)
    for repair in read.repairs:
        where = f" ({source_name})" if source_name else ""
        ctx.report("warning", "structure", f"the input needed a repair to be read: {repair}{where}")
    source_id = ctx.make_id("DocumentReference", "source|" + key)
    ctx.source = reference(source_id)
    ctx.patient = ctx.add(header.patient(ctx))
    writers = _guarded(ctx, "authors", document.authors) or []
    keeper = _guarded(ctx, "custodian", document.custodian)
    ctx.author = writers[0].who if writers else None
    found = _guarded(ctx, "encompassingEncounter", header.encounter)
    if found is not None:
        ctx.encounter = ctx.add(found)
    fields = document.document_fields(ctx, writers, keeper)
    sections = body.convert_body(ctx, fields)
    composition = document.composition(
        ctx, ctx.make_id("Composition", key), sections, writers, keeper, fields
    )
    ctx.add(composition)
    ctx.add(document.source_document(ctx, source_id, data, fields, url=source_url))
    ctx.add(document.provenance(ctx, ctx.make_id("Provenance", key), writers, keeper, ctx.source))
    ctx.finish()
    resources: list[Json] = [composition, *(r for r in ctx.resources.values() if r is not composition)]
    bundle_id = ctx.make_id("Bundle", key)
    issues = tuple(ctx.issues)
    if include_outcome:
        resources.append(operation_outcome(ctx.make_id("OperationOutcome", key), issues))
    result = bundle(bundle_id, resources, identifier=_bundle_identifier(ctx))
    if strict:
        validate_bundle(result)
    stats = ConversionStats(len(resources), (time.perf_counter() - started) * 1000, dict(ctx.sections))
    return ConversionResult(result, issues, stats, read.repairs)


def _guarded(ctx: ConversionContext, what: str, convert: Callable[[ConversionContext], T]) -> T | None:
    """Run an optional header converter; a failure becomes an issue and the document converts without it."""
    try:
        return convert(ctx)
    except Exception as exc:  # the same boundary as for entries: one bad part must not cost the document
        ctx.report(
            "error", "exception", f"the {what} could not be converted ({type(exc).__name__})", ctx.root
        )
        return None


def _bundle_identifier(ctx: ConversionContext) -> Json | None:
    return identifier(child(ctx.root, "id"))


def validate_bundle(result: Json) -> None:
    """Validate with the fhir.resources R4B models; raise ``ConversionValidationError`` listing the errors."""
    try:
        from fhir.resources.R4B.bundle import Bundle
    except ImportError as exc:  # pragma: no cover - the dev extra is installed wherever strict mode runs
        raise ConversionValidationError("strict mode needs the fhir.resources package (dev extra)") from exc
    from pydantic import ValidationError

    try:
        Bundle.model_validate(result)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [
            {"loc": ".".join(str(p) for p in error["loc"]), "type": error["type"]}
            for error in exc.errors()[:50]
        ]
        raise ConversionValidationError(
            f"the Bundle fails FHIR R4B validation ({exc.error_count()} errors)", detail={"errors": errors}
        ) from None
