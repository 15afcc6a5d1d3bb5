"""Assemble the Bundle (plain dicts, ``fullUrl`` ``urn:uuid:<id>``) and serialize it with orjson."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import orjson

from fhir_facade.ccda.context import Issue, Json

__all__ = ["bundle", "dumps", "operation_outcome"]


def bundle(
    rid: str,
    resources: Iterable[Json],
    *,
    kind: Literal["collection", "document"] = "collection",
    identifier: Json | None = None,
    timestamp: str | None = None,
) -> Json:
    """A Bundle holding ``resources`` in the order given (the Composition first for a ``document``)."""
    result: Json = {"resourceType": "Bundle", "id": rid}
    if identifier:
        result["identifier"] = identifier
    result["type"] = kind
    if timestamp:
        result["timestamp"] = timestamp
    result["entry"] = [{"fullUrl": "urn:uuid:" + r["id"], "resource": r} for r in resources]
    return result


def operation_outcome(rid: str, issues: Sequence[Issue]) -> Json:
    """OperationOutcome of conversion issues; an empty conversion still says so (one information issue)."""
    listed = [issue.to_fhir() for issue in issues] or [
        {"severity": "information", "code": "informational", "diagnostics": "converted without issues"}
    ]
    return {"resourceType": "OperationOutcome", "id": rid, "issue": listed}


def dumps(resource: Json, *, indent: bool = False) -> bytes:
    """UTF-8 JSON bytes; ``indent`` for people, compact for machines."""
    return orjson.dumps(resource, option=orjson.OPT_INDENT_2 if indent else 0)
