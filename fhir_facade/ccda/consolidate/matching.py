"""Grouping the occurrences of one resource type: union-find over resource ids, driven by key buckets.

Resources sharing an id are one node from the start (the id scheme gives the same fact the same id). Then:

0. identifier buckets (types whose rule says so) join their nodes outright;
1. ``what`` buckets (``(system, value, extra value)``): the occurrences with a precise time are sorted by
   their interval and swept, each run of overlapping intervals becoming one group (timeless rules put all
   occurrences of a bucket in one run);
2. an occurrence with a partial time (a year, a month, a date where an instant is needed) or none joins the
   group of its buckets' precise occurrences it overlaps, but only when that is exactly one group; two or more
   make it ambiguous: it stays apart and is reported as a possible duplicate;
3. the occurrences left over are swept among themselves by their coarse interval, and those without a time
   join a single leftover group of their bucket, or each other when there is none (for a rule with
   ``one_per_document``, not when one document holds several of them: those are distinct, and the others
   could be any of them, so all stay apart and are reported).

Every join through a ``what`` bucket is checked against the two groups' signatures (the codes or identifiers
seen per system): groups that disagree in a system at least as specific as the one they share stay apart
(and are reported). For a rule with ``one_per_document``, groups holding occurrences of one same document
stay apart too (not reported: they are distinct by construction). Cost: sorting inside buckets, no
comparison across all resources.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from fhir_facade.ccda.consolidate.documents import OPEN_END, Interval
from fhir_facade.ccda.consolidate.rules import SYSTEM_RANK, Rule, Token

__all__ = ["Groups", "Item", "match"]

_TIMELESS = Interval("", OPEN_END, True)
Signature = dict[str, set[str]]


@dataclass(frozen=True, slots=True)
class Item:
    """One occurrence (one resource in one document) as the matcher sees it."""

    node: str
    order: int
    what: tuple[Token, ...]
    identifiers: tuple[Token, ...] = ()
    when: Interval | None = None
    value: str = ""


@dataclass
class Groups:
    """Union-find over the ids of one type; the merge reasons and the possible duplicates it met."""

    parent: dict[str, str]
    codes: dict[str, Signature] = field(default_factory=dict)
    ids: dict[str, Signature] = field(default_factory=dict)
    reasons: list[tuple[str, str]] = field(default_factory=list)
    """``(node, reason)`` for every successful join."""
    doubtful: set[tuple[tuple[str, ...], str]] = field(default_factory=set)
    documents: dict[str, set[int]] = field(default_factory=dict)
    """Per root, the documents (orders) of its occurrences; kept only when documents keep groups apart."""

    @classmethod
    def of(cls, nodes: list[str]) -> Groups:
        return cls({n: n for n in nodes})

    def find(self, node: str) -> str:
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a: str, b: str, reason: str, *, check: bool = True) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if check and self.documents.get(ra, set()) & self.documents.get(rb, set()):
            return False  # one document's occurrences are distinct facts for this type
        if check and (
            _disagree(self.codes.get(ra), self.codes.get(rb), ranked=True)
            or _disagree(self.ids.get(ra), self.ids.get(rb), ranked=False)
        ):
            self.doubtful.add((tuple(sorted((a, b))), f"{reason}, but their codes or identifiers disagree"))
            return False
        keep, gone = (ra, rb) if ra < rb else (rb, ra)
        self.parent[gone] = keep
        if self.documents:
            self.documents.setdefault(keep, set()).update(self.documents.pop(gone, set()))
        for table in (self.codes, self.ids):
            merged = table.setdefault(keep, {})
            for system, values in table.pop(gone, {}).items():
                merged.setdefault(system, set()).update(values)
        self.reasons.append((keep, reason))
        return True

    def components(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = defaultdict(list)
        for node in sorted(self.parent):
            found[self.find(node)].append(node)
        return dict(found)

    def reasons_by_root(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for node, reason in self.reasons:
            found[self.find(node)].add(reason)
        return dict(found)


def _disagree(a: Signature | None, b: Signature | None, *, ranked: bool) -> bool:
    if not a or not b:
        return False
    shared = [s for s in a if s in b]
    common = [SYSTEM_RANK.get(s, 5) for s in shared if a[s] & b[s]]
    if not ranked:
        return len(common) < len(shared)
    best = min(common, default=99)
    return any(not (a[s] & b[s]) and SYSTEM_RANK.get(s, 5) <= best for s in shared)


def match(groups: Groups, items: list[Item], rule: Rule) -> None:
    """Join the nodes of ``items`` according to ``rule`` (see the module docstring for the phases)."""
    items = sorted(items, key=lambda i: (i.node, i.order))
    for item in items:
        if rule.one_per_document:
            groups.documents.setdefault(groups.find(item.node), set()).add(item.order)
        for table, tokens in ((groups.codes, item.what), (groups.ids, item.identifiers)):
            signature = table.setdefault(groups.find(item.node), {})
            for system, value in tokens:
                signature.setdefault(system, set()).add(value)
    if rule.identifiers:
        by_identifier: dict[Token, list[str]] = defaultdict(list)
        for item in items:
            for token in item.identifiers:
                by_identifier[token].append(item.node)
        for _token, nodes in sorted(by_identifier.items()):
            for node in nodes[1:]:
                groups.union(nodes[0], node, "same identifier", check=False)
    buckets: dict[tuple[str, str, str], list[Item]] = defaultdict(list)
    for item in items:
        for system, code in dict.fromkeys(item.what):
            buckets[(system, code, item.value)].append(item)
    precise: dict[tuple[str, str, str], list[tuple[Interval, str]]] = {}
    loose: dict[tuple[str, str, str], list[Item]] = {}
    for key, members in sorted(buckets.items()):
        timed = [(_when(rule, m), m) for m in members]
        exact = [(w, m) for w, m in timed if w is not None and w.precise]
        _sweep(groups, exact, rule.reason)
        precise[key] = [(w, m.node) for w, m in exact]
        loose[key] = [m for w, m in timed if w is None or not w.precise]
    leftovers = _attach(groups, loose, precise, rule, rule.reason + " (time partial or missing)")
    for _key, members in sorted(leftovers.items()):
        partial = [(m.when, m) for m in members if m.when is not None]
        _sweep(groups, [(w, m) for w, m in partial if w is not None], rule.reason + " (partial time)")
        if not rule.undated_matches:
            continue
        roots = sorted({groups.find(m.node) for _, m in partial})
        missing = [m for m in members if m.when is None]
        if len(roots) > 1:
            _doubt(groups, missing, roots, rule.reason)
            continue
        repeated = {o for o in (m.order for m in missing) if sum(m.order == o for m in missing) > 1}
        if rule.one_per_document and not roots and repeated:
            # one document holds several: distinct facts, and any other occurrence could be either of them
            apart = sorted(m.node for m in missing if m.order in repeated)
            _doubt(groups, [m for m in missing if m.order not in repeated], apart, rule.reason)
            continue
        anchor = roots[0] if roots else (missing[0].node if missing else None)
        for member in missing:
            if anchor is not None:
                groups.union(anchor, member.node, rule.reason + " (no time)")


def _when(rule: Rule, item: Item) -> Interval | None:
    return _TIMELESS if rule.time is None else item.when


def _sweep(groups: Groups, timed: list[tuple[Interval, Item]], reason: str) -> None:
    """Join runs of overlapping intervals (sorted by start; each run joins its first member)."""
    anchor: str | None = None
    reach = ""
    for when, item in sorted(timed, key=lambda t: (t[0].start, t[0].end, t[1].node, t[1].order)):
        if anchor is None or when.start > reach:
            anchor, reach = item.node, when.end
            continue
        reach = max(reach, when.end)
        groups.union(anchor, item.node, reason)


def _attach(
    groups: Groups,
    loose: dict[tuple[str, str, str], list[Item]],
    precise: dict[tuple[str, str, str], list[tuple[Interval, str]]],
    rule: Rule,
    reason: str,
) -> dict[tuple[str, str, str], list[Item]]:
    """Join each loose item to the one group it can belong to; return the items that had none, by bucket."""
    keys_of: dict[tuple[str, int], list[tuple[str, str, str]]] = defaultdict(list)
    items: dict[tuple[str, int], Item] = {}
    for key, members in loose.items():
        for member in members:
            keys_of[(member.node, member.order)].append(key)
            items[(member.node, member.order)] = member
    decisions: list[tuple[Item, list[str], list[tuple[str, str, str]]]] = []
    for ident in sorted(items):
        item = items[ident]
        if item.when is None and not rule.undated_matches:
            continue
        candidates = {
            groups.find(node)
            for key in keys_of[ident]
            for when, node in precise.get(key, ())
            if item.when is None or item.when.overlaps(when)
        }
        decisions.append((item, sorted(candidates), keys_of[ident]))
    left: dict[tuple[str, str, str], list[Item]] = defaultdict(list)
    for item, roots, keys in decisions:
        if len(roots) == 1:
            groups.union(roots[0], item.node, reason)
        elif roots:
            _doubt(groups, [item], roots, rule.reason)
        else:
            for key in keys:
                left[key].append(item)
    return left


def _doubt(groups: Groups, items: list[Item], roots: list[str], reason: str) -> None:
    for item in items:
        groups.doubtful.add(
            (tuple(sorted({item.node, *roots})), f"{reason}: fits several groups, kept apart")
        )
