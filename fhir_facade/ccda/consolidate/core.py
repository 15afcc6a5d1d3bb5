"""``consolidate``: the per-document Bundles of one patient → one de-duplicated collection Bundle + report."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

from fhir_facade.ccda.bundle import bundle, dumps
from fhir_facade.ccda.consolidate.documents import URN, Document, read_documents, ref_id
from fhir_facade.ccda.consolidate.matching import Groups, Item, match
from fhir_facade.ccda.consolidate.merge import Conflict, merge
from fhir_facade.ccda.consolidate.report import (
    ConsolidationReport,
    DocumentInfo,
    Merge,
    PossibleDuplicate,
    TypeCount,
)
from fhir_facade.ccda.consolidate.rules import (
    CONTENT_RULE,
    NEVER_MERGED,
    RULES,
    TIERS,
    Rule,
    content_tokens,
    identifier_tokens,
)
from fhir_facade.ccda.context import Json, make_id
from fhir_facade.ccda.convert import ConversionResult, validate_bundle

__all__ = ["Consolidation", "consolidate"]

_SAME_ID = "same entry id in several documents"


@dataclass(frozen=True)
class Consolidation:
    """The consolidated Bundle, the report, and the input Bundles untouched (the raw per-document view)."""

    bundle: Json
    report: ConsolidationReport
    documents: tuple[Json, ...]
    """The input Bundles as given (never modified), oldest document first."""
    ms: float = 0.0

    def json(self, *, indent: bool = False) -> bytes:
        return dumps(self.bundle, indent=indent)


@dataclass
class _Fact:
    """One group: its surviving id and its occurrences (document, resource)."""

    resource_type: str
    survivor: str
    nodes: list[str]
    occurrences: list[tuple[Document, Json]]
    reasons: set[str]


def consolidate(
    inputs: Iterable[ConversionResult | Json], *, strict: bool = False, keep: Collection[str] = ()
) -> Consolidation:
    """Consolidate the conversions of several documents about one patient.

    ``inputs``: ConversionResults or their Bundles (any order: the result is the same). ``strict``
    validates the consolidated Bundle with the FHIR R4B models (``ConversionValidationError``). ``keep``:
    ids of a record published before (the same patient's): a merged resource keeps such an id rather than
    taking an older document's, so ids a client already read stay valid as documents are added (a merge of
    two published resources keeps one of them). Raises ``ValueError`` when an input is not a Bundle.
    """
    kept = frozenset(keep)
    started = time.perf_counter()
    given = [i.bundle if isinstance(i, ConversionResult) else i for i in inputs]
    documents = read_documents(given)
    by_type: dict[str, list[tuple[Document, Json]]] = defaultdict(list)
    local: dict[tuple[int, str], Json] = {}
    for doc in documents:
        for resource in doc.resources:
            by_type[resource["resourceType"]].append((doc, resource))
            local[(doc.order, resource["id"])] = resource
    survivors: dict[str, str] = {}

    def survivor_of(rid: str) -> str:
        return survivors.get(rid, rid)

    facts: list[_Fact] = []
    doubtful: list[PossibleDuplicate] = []
    for rtype in _type_order(by_type):
        occurrences = sorted(by_type[rtype], key=lambda o: (o[0].order, o[1]["id"]))
        groups = Groups.of(sorted({r["id"] for _, r in occurrences}))
        if rtype == "Patient":
            for _, resource in occurrences:
                groups.union(
                    occurrences[0][1]["id"], resource["id"], "one patient per consolidation", check=False
                )
        elif rtype not in NEVER_MERGED:
            match(groups, [_item(rtype, doc, r, local, survivor_of) for doc, r in occurrences], _rule(rtype))
        first_seen: dict[str, int] = {}
        for doc, resource in occurrences:
            first_seen.setdefault(resource["id"], doc.order)
        reasons = groups.reasons_by_root()
        members: dict[str, list[tuple[Document, Json]]] = defaultdict(list)
        for doc, resource in occurrences:
            members[groups.find(resource["id"])].append((doc, resource))
        for root, nodes in groups.components().items():
            survivor = min(nodes, key=lambda n: (n not in kept, first_seen[n], n))
            for node in nodes:
                survivors[node] = survivor
            found = members[root]
            why = set(reasons.get(root, ()))
            if any(len({d.order for d, r in found if r["id"] == n}) > 1 for n in nodes):
                why.add(_SAME_ID)
            facts.append(_Fact(rtype, survivor, nodes, found, why))
        doubtful.extend(
            PossibleDuplicate(rtype, tuple(sorted({survivor_of(i) for i in ids})), reason)
            for ids, reason in sorted(groups.doubtful)
        )
    return _assemble(given, documents, facts, doubtful, survivor_of, strict=strict, started=started)


def _type_order(by_type: dict[str, Any]) -> list[str]:
    """Referenced types first (their survivors feed later keys), then ruled types, unknown ones, documents."""
    present = set(by_type)
    head = [t for t in TIERS if t in present]
    tail = sorted(present & NEVER_MERGED)
    ruled = sorted(t for t in present if t in RULES and t not in head)
    other = sorted(present - set(head) - set(ruled) - set(tail))
    return head + ruled + other + tail


def _rule(rtype: str) -> Rule:
    return RULES.get(rtype, CONTENT_RULE)


def _item(
    rtype: str,
    doc: Document,
    resource: Json,
    local: dict[tuple[int, str], Json],
    survivor_of: Callable[[str], str],
) -> Item:
    rule = RULES.get(rtype)

    def resolve(reference: Any) -> Json | None:
        target = ref_id(reference)
        return local.get((doc.order, target)) if target else None

    if rule is None:
        return Item(resource["id"], doc.order, tuple(content_tokens(resource, survivor_of)))
    return Item(
        resource["id"],
        doc.order,
        tuple(rule.what(resource, resolve, survivor_of)),
        tuple(identifier_tokens(resource)) if rule.identifiers else (),
        rule.time(resource) if rule.time else None,
        rule.value(resource) if rule.value else "",
    )


def _assemble(
    given: list[Json],
    documents: list[Document],
    facts: list[_Fact],
    doubtful: list[PossibleDuplicate],
    survivor_of: Callable[[str], str],
    *,
    strict: bool,
    started: float,
) -> Consolidation:
    source_ids = {survivor_of(d.source_id) for d in documents}
    resources: list[Json] = []
    conflicts: list[Conflict] = []
    merges: list[Merge] = []
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for fact in facts:
        newest_first = sorted(fact.occurrences, key=lambda o: (-o[0].order, o[1]["id"]))
        tracked = fact.survivor not in source_ids and fact.resource_type != "Provenance"
        sources = list(dict.fromkeys(survivor_of(d.source_id) for d, _ in fact.occurrences))
        resource, found = merge(
            fact.resource_type, fact.survivor, newest_first, survivor_of, sources=sources if tracked else None
        )
        if fact.resource_type == "Patient":
            _link_absorbed(resource, fact)
        resources.append(resource)
        conflicts.extend(found)
        tally = counts[fact.resource_type]
        tally[0] += len(fact.occurrences)
        tally[1] += len(fact.nodes)
        tally[2] += 1
        if len(fact.occurrences) > 1:
            merges.append(
                Merge(
                    fact.resource_type,
                    fact.survivor,
                    tuple((survivor_of(d.source_id), r["id"]) for d, r in fact.occurrences),
                    tuple(sorted(fact.reasons)),
                )
            )
    resources.sort(key=lambda r: (r["resourceType"] != "Patient", r["resourceType"], r["id"]))
    key = "consolidated|" + "|".join(sorted(source_ids))
    result = bundle(make_id("Bundle", key), resources)
    if strict:
        validate_bundle(result)
    repeated = sorted(
        {d.source_id for d in documents if sum(e.source_id == d.source_id for e in documents) > 1}
    )
    report = ConsolidationReport(
        documents=tuple(
            DocumentInfo(survivor_of(d.source_id), d.date, d.title, d.bundle_id, len(d.resources))
            for d in documents
        ),
        counts={t: TypeCount(*c) for t, c in sorted(counts.items())},
        merges=tuple(sorted(merges, key=lambda m: (m.resource_type, m.survivor))),
        conflicts=tuple(conflicts),
        possible_duplicates=tuple(sorted(set(doubtful), key=lambda p: (p.resource_type, p.ids, p.reason))),
        repeated_documents=tuple(repeated),
    )
    ordered = tuple(given[d.position] for d in documents)
    return Consolidation(result, report, ordered, (time.perf_counter() - started) * 1000)


def _link_absorbed(patient: Json, fact: _Fact) -> None:
    """``Patient.link`` ``replaces`` for each per-document Patient merged into the survivor, identified by
    its ``urn:uuid`` (its id in the raw per-document view) since it is not in the consolidated Bundle."""
    links = [
        {
            "other": {"type": "Patient", "identifier": {"system": "urn:ietf:rfc:3986", "value": URN + node}},
            "type": "replaces",
        }
        for node in fact.nodes
        if node != fact.survivor
    ]
    if links:
        patient["link"] = [*(patient.get("link") or []), *links]
