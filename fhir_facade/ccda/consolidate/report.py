"""What consolidation did: the documents, what merged with what and why, counts per type, conflicts and the
possible duplicates it kept apart. ``to_json`` gives plain JSON (the CLI writes it next to the Bundle)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fhir_facade.ccda.consolidate.merge import Conflict
from fhir_facade.ccda.context import Json

__all__ = ["ConsolidationReport", "DocumentInfo", "Merge", "PossibleDuplicate", "TypeCount"]


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """One input document, in consolidation order (oldest first)."""

    source: str
    """Id of the source DocumentReference (in the consolidated Bundle)."""
    date: str | None
    title: str | None
    bundle_id: str | None
    resources: int


@dataclass(frozen=True, slots=True)
class Merge:
    """Occurrences in several documents (or repeated in one) that became one resource."""

    resource_type: str
    survivor: str
    members: tuple[tuple[str, str], ...]
    """``(source document id, original resource id)``, oldest document first."""
    reasons: tuple[str, ...]

    def to_json(self) -> Json:
        return {
            "resourceType": self.resource_type,
            "id": self.survivor,
            "members": [{"document": d, "id": i} for d, i in self.members],
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class PossibleDuplicate:
    """Resources that looked alike but were kept apart (disagreeing codes, an ambiguous undated one)."""

    resource_type: str
    ids: tuple[str, ...]
    """Surviving ids."""
    reason: str


@dataclass(frozen=True, slots=True)
class TypeCount:
    occurrences: int
    """Resources of the type across the input documents."""
    distinct_ids: int
    output: int


@dataclass(frozen=True)
class ConsolidationReport:
    documents: tuple[DocumentInfo, ...]
    counts: dict[str, TypeCount]
    merges: tuple[Merge, ...]
    conflicts: tuple[Conflict, ...]
    possible_duplicates: tuple[PossibleDuplicate, ...]
    repeated_documents: tuple[str, ...] = field(default=())
    """Source ids received more than once (their copies merged like any other resource)."""

    @property
    def resources_in(self) -> int:
        return sum(c.occurrences for c in self.counts.values())

    @property
    def resources_out(self) -> int:
        return sum(c.output for c in self.counts.values())

    def summary(self) -> Json:
        return {
            "documents": len(self.documents),
            "resources_in": self.resources_in,
            "resources": self.resources_out,
            "merged": len(self.merges),
            "conflicts": len(self.conflicts),
            "possible_duplicates": len(self.possible_duplicates),
        }

    def to_json(self) -> Json:
        return {
            "summary": self.summary(),
            "documents": [
                {
                    "source": d.source,
                    "date": d.date,
                    "title": d.title,
                    "bundle": d.bundle_id,
                    "resources": d.resources,
                }
                for d in self.documents
            ],
            "repeatedDocuments": list(self.repeated_documents),
            "counts": {
                t: {"in": c.occurrences, "distinctIds": c.distinct_ids, "out": c.output}
                for t, c in sorted(self.counts.items())
            },
            "merges": [m.to_json() for m in self.merges],
            "conflicts": [c.to_json() for c in self.conflicts],
            "possibleDuplicates": [
                {"resourceType": p.resource_type, "ids": list(p.ids), "reason": p.reason}
                for p in self.possible_duplicates
            ],
        }
