"""From scored candidates to one answer: :class:`Match`, :class:`NoMatch` or :class:`Ambiguous`.

Never a wrong match: vetoed candidates are gone, a best candidate below the match threshold or with a
runner-up within the ambiguity margin is not returned. When the evidence is ambiguous and the query left out
attributes that could settle it (gender, address, telecom), those are requested (ITI-55 "more attributes
requested", IHE ITI TF-2b 3.55.4.2.2.6); when nothing is left to ask for, the answer is no match.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from gateway.matching.normalize import NormalizedPerson
from gateway.matching.scorer import Evidence, MatchConfig, score_candidate
from xca.iti55 import RequestedAttribute

__all__ = ["Ambiguous", "Candidate", "Match", "MatchResult", "NoMatch", "decide"]

T = TypeVar("T")


@dataclass(frozen=True)
class Candidate(Generic[T]):
    """A local patient (``ref``: whatever the caller uses to find it again) in normalized form."""

    ref: T
    person: NormalizedPerson


@dataclass(frozen=True)
class Match(Generic[T]):
    """The one patient the query means, its score (0–100) and the evidence for it."""

    ref: T
    score: int
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class NoMatch:
    """No local patient is the one asked for; ``candidates`` is how many were scored."""

    candidates: int = 0


@dataclass(frozen=True)
class Ambiguous:
    """Several patients (or one, on weak evidence) could be meant: ask for ``requested`` attributes."""

    requested: tuple[RequestedAttribute, ...]
    candidates: int
    best_score: int


MatchResult = Match[T] | NoMatch | Ambiguous


def _requestable(query: NormalizedPerson) -> tuple[RequestedAttribute, ...]:
    wanted: list[RequestedAttribute] = []
    if query.gender is None:
        wanted.append(RequestedAttribute.GENDER)
    if not query.addresses:
        wanted.append(RequestedAttribute.ADDRESS)
    if not query.phones:
        wanted.append(RequestedAttribute.TELECOM)
    return tuple(wanted)


def decide(
    query: NormalizedPerson,
    candidates: Iterable[Candidate[T]],
    config: MatchConfig,
    *,
    minimum_score: int | None = None,
) -> Match[T] | NoMatch | Ambiguous:
    """Score every candidate and decide; ``minimum_score`` is the query's minimumDegreeMatch, if any."""
    scored = []
    count = 0
    for candidate in candidates:
        count += 1
        score = score_candidate(query, candidate.person, config)
        if not score.vetoed and score.value >= config.review_threshold:
            scored.append((score, candidate))
    if not scored:
        return NoMatch(count)
    scored.sort(key=lambda pair: pair[0].strength, reverse=True)
    best_score, best = scored[0]
    threshold = max(config.match_threshold, minimum_score or 0)
    runner_up = scored[1][0].strength if len(scored) > 1 else None
    close = runner_up is not None and best_score.strength - runner_up < config.ambiguity_margin
    if best_score.value >= threshold and not close:
        return Match(best.ref, best_score.value, best_score.evidence)
    requested = _requestable(query)
    if not requested:
        return NoMatch(count)
    return Ambiguous(requested, len(scored), best_score.value)
