"""Name similarity: nicknames, initials, phonetic keys (jellyfish) and Jaro-Winkler (rapidfuzz).

Each function returns a similarity in [0, 1] where 0 means "disagrees": below the configured Jaro-Winkler
cutoff two names are different names, however many letters they share (Alice and Alison are two people).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Final

import jellyfish
from rapidfuzz.distance import JaroWinkler

__all__ = ["family_similarity", "given_similarity", "nickname_groups", "phonetic_key"]

_NICKNAME: Final = 0.95
_PHONETIC: Final = 0.9
_INITIAL: Final = 0.6
_MIDDLE_AS_FIRST: Final = 0.85
_COMPOUND_PART: Final = 0.9


@cache
def _nickname_table() -> dict[str, frozenset[int]]:
    groups: defaultdict[str, set[int]] = defaultdict(set)
    text = resources.files("gateway.matching").joinpath("nicknames.csv").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    for index, line in enumerate(lines):
        for name in line.split(","):
            groups[name.strip()].add(index)
    return {name: frozenset(ids) for name, ids in groups.items()}


def nickname_groups(name: str) -> frozenset[int]:
    """The nickname groups a normalized given name belongs to (empty when it is in none)."""
    return _nickname_table().get(name, frozenset())


@cache
def phonetic_key(token: str) -> str:
    """Metaphone key of one normalized token (blocking and phonetic agreement)."""
    return jellyfish.metaphone(token) if token else ""


def _fuzzy(a: str, b: str, cutoff: float) -> float:
    """Jaro-Winkler above the cutoff, rescaled to [0.5, 1): a near spelling is half-way evidence, so an
    exact name always outranks it (Hanna asked: Hanna, not her twin Anna)."""
    similarity = JaroWinkler.similarity(a, b)
    if similarity < cutoff:
        return 0.0
    return 0.5 + 0.5 * (similarity - cutoff) / (1.0 - cutoff)


def _token_similarity(a: str, b: str, cutoff: float) -> float:
    if a == b:
        return 1.0
    if len(a) > 2 and len(b) > 2 and phonetic_key(a) == phonetic_key(b):
        return _PHONETIC
    return _fuzzy(a, b, cutoff)


def _given_pair(a: str, b: str, cutoff: float) -> float:
    if a == b:
        return 1.0
    if len(a) == 1 or len(b) == 1:
        return _INITIAL if a[0] == b[0] else 0.0
    if nickname_groups(a) & nickname_groups(b):
        return _NICKNAME
    # No phonetic shortcut for given names: Jon and Jan share a metaphone key and are two people.
    return _fuzzy(a, b, cutoff)


def given_similarity(query: tuple[str, ...], candidate: tuple[str, ...], *, cutoff: float) -> float:
    """First names compared (nicknames, initials, typos); a middle name used as first name counts less."""
    if not query or not candidate:
        return 0.0
    best = _given_pair(query[0], candidate[0], cutoff)
    if best < 1.0:
        others = [
            _given_pair(a, b, cutoff) * _MIDDLE_AS_FIRST
            for a in query
            for b in candidate
            if (a, b) != (query[0], candidate[0])
        ]
        best = max([best, *others])
    return best


def family_similarity(query: tuple[str, ...], candidate: tuple[str, ...], *, cutoff: float) -> float:
    """Whole family names, then parts of compound names (Garcia-Lopez vs Garcia) at a small discount."""
    if not query or not candidate:
        return 0.0
    whole = _token_similarity("".join(query), "".join(candidate), cutoff)
    if whole >= 1.0 or (len(query) == 1 and len(candidate) == 1):
        return whole
    parts = _best_pairs(query, candidate, cutoff)
    return max(whole, parts * _COMPOUND_PART)


def _best_pairs(query: Iterable[str], candidate: tuple[str, ...], cutoff: float) -> float:
    return max((_token_similarity(a, b, cutoff) for a in query for b in candidate), default=0.0)
