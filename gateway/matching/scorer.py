"""The pure scorer: one query against one candidate, as a 0–100 score with its evidence.

A log-likelihood model in the Fellegi–Sunter style: each attribute stated on both sides adds its agreement
weight, or its disagreement weight, or (for partial similarity) a share between them; the total is scaled so
that full agreement on given name, family name and birth date is 100. A birth date, gender or SSN that
conflicts, or a given name that is a different name, vetoes the candidate outright unless the configuration
says otherwise: a twin differs from their sibling in little more than the given name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rapidfuzz import fuzz

from gateway.matching.names import family_similarity, given_similarity
from gateway.matching.normalize import NormalizedAddress, NormalizedName, NormalizedPerson
from xca.errors import ConfigError

__all__ = ["Attribute", "Evidence", "MatchConfig", "Score", "Weight", "score_candidate"]


class Attribute(StrEnum):
    GIVEN_NAME = "given-name"
    FAMILY_NAME = "family-name"
    BIRTH_DATE = "birth-date"
    GENDER = "gender"
    ADDRESS = "address"
    TELECOM = "telecom"
    SSN = "ssn"
    IDENTIFIER = "identifier"


@dataclass(frozen=True)
class Weight:
    """Log-likelihood weights: added on agreement, on disagreement (negative)."""

    agree: float
    disagree: float

    def at(self, similarity: float) -> float:
        return self.disagree + similarity * (self.agree - self.disagree)


def _default_weights() -> dict[Attribute, Weight]:
    return {
        Attribute.FAMILY_NAME: Weight(6.5, -8.0),
        Attribute.GIVEN_NAME: Weight(5.5, -12.0),
        Attribute.BIRTH_DATE: Weight(12.0, -20.0),
        Attribute.GENDER: Weight(1.0, -10.0),
        Attribute.ADDRESS: Weight(6.0, -1.0),
        Attribute.TELECOM: Weight(8.0, -1.0),
        Attribute.SSN: Weight(15.0, -20.0),
        Attribute.IDENTIFIER: Weight(24.0, 0.0),
    }


@dataclass(frozen=True)
class MatchConfig:
    """Weights, cut-offs and thresholds of the matcher (frozen; one per responding gateway).

    ``match_threshold``: lowest score returned as a match. ``review_threshold``: from here up to the match
    threshold the evidence is ambiguous and more attributes are requested. ``ambiguity_margin``: a runner-up
    this close to the best candidate makes the answer ambiguous. The ``veto_*`` flags turn conflicts into
    exclusions; ``partial_birth_factor`` scales the birth-date weight when the query gives only a year.
    """

    weights: dict[Attribute, Weight] = field(default_factory=_default_weights)
    name_cutoff: float = 0.88
    match_threshold: int = 85
    review_threshold: int = 60
    ambiguity_margin: int = 10
    partial_birth_factor: float = 0.25
    swapped_name_factor: float = 0.9
    veto_birth_date_conflict: bool = True
    veto_gender_conflict: bool = True
    veto_ssn_conflict: bool = True
    veto_given_name_conflict: bool = True
    max_candidates: int = 200

    def __post_init__(self) -> None:
        if not 0 < self.review_threshold < self.match_threshold <= 100:
            raise ConfigError(
                "matching thresholds must satisfy 0 < review < match <= 100", detail={"setting": "matching"}
            )

    @property
    def reference_weight(self) -> float:
        w = self.weights
        return w[Attribute.GIVEN_NAME].agree + w[Attribute.FAMILY_NAME].agree + w[Attribute.BIRTH_DATE].agree


@dataclass(frozen=True)
class Evidence:
    """One attribute compared: its similarity (0 disagrees, 1 agrees) and the weight it contributed."""

    attribute: Attribute
    similarity: float
    weight: float


@dataclass(frozen=True)
class Score:
    """A candidate's score (0–100), the evidence behind it, and the vetoes that exclude it.

    ``strength`` is the same measure before capping at 100: it ranks candidates whose evidence goes
    beyond full agreement on name and birth date.
    """

    value: int
    evidence: tuple[Evidence, ...]
    vetoes: tuple[Attribute, ...] = ()
    strength: int = 0

    @property
    def vetoed(self) -> bool:
        return bool(self.vetoes)


def _names(query: NormalizedPerson, candidate: NormalizedPerson, config: MatchConfig) -> tuple[float, float]:
    """Best (given, family) similarity over every pair of names, swapped given/family included."""
    best = (0.0, 0.0)
    cutoff = config.name_cutoff

    def total(pair: tuple[float, float]) -> float:
        return pair[0] + pair[1]

    for q in query.names:
        for c in candidate.names:
            direct = (
                given_similarity(q.given, c.given, cutoff=cutoff),
                family_similarity(q.family, c.family, cutoff=cutoff),
            )
            swapped = _swapped(q, c, config)
            best = max(best, direct, swapped, key=total)
    return best


def _swapped(q: NormalizedName, c: NormalizedName, config: MatchConfig) -> tuple[float, float]:
    factor, cutoff = config.swapped_name_factor, config.name_cutoff
    return (
        factor * given_similarity(q.family, c.given, cutoff=cutoff),
        factor * family_similarity(q.given, c.family, cutoff=cutoff),
    )


def _birth(query: NormalizedPerson, candidate: NormalizedPerson, config: MatchConfig) -> float | None:
    if candidate.birth_date is None:
        return None
    if query.birth_date is not None:
        return 1.0 if query.birth_date == candidate.birth_date else 0.0
    if query.birth_partial is not None:
        return 1.0 if query.birth_partial.contains(candidate.birth_date) else 0.0
    return None


def _address(a: NormalizedAddress, b: NormalizedAddress) -> float:
    street = fuzz.token_sort_ratio(a.street, b.street) / 100 if a.street and b.street else 0.0
    same_zip = bool(a.postal_code) and a.postal_code == b.postal_code
    same_city = bool(a.city) and a.city == b.city and a.state == b.state
    if street >= 0.85 and (same_zip or same_city):
        return 1.0
    if street >= 0.85:
        return 0.8
    return 0.3 if same_zip else 0.0


def score_candidate(query: NormalizedPerson, candidate: NormalizedPerson, config: MatchConfig) -> Score:
    """Score ``candidate`` (a local patient) for ``query`` (the inbound ITI-55 parameters)."""
    sims: dict[Attribute, float] = {}
    if query.names and candidate.names:
        sims[Attribute.GIVEN_NAME], sims[Attribute.FAMILY_NAME] = _names(query, candidate, config)
    birth = _birth(query, candidate, config)
    if birth is not None:
        sims[Attribute.BIRTH_DATE] = birth
    if query.gender is not None and candidate.gender is not None:
        sims[Attribute.GENDER] = 1.0 if query.gender == candidate.gender else 0.0
    if query.addresses and candidate.addresses:
        sims[Attribute.ADDRESS] = max(_address(a, b) for a in query.addresses for b in candidate.addresses)
    if query.phones and candidate.phones:
        sims[Attribute.TELECOM] = 1.0 if query.phones & candidate.phones else 0.0
    if query.ssn and candidate.ssn:
        sims[Attribute.SSN] = 1.0 if query.ssn == candidate.ssn else 0.0
    if query.identifiers & candidate.identifiers:
        sims[Attribute.IDENTIFIER] = 1.0
    evidence: list[Evidence] = []
    for attribute, similarity in sims.items():
        weight = config.weights[attribute]
        contribution = weight.at(similarity)
        if attribute is Attribute.BIRTH_DATE and query.birth_date is None and similarity > 0:
            contribution *= config.partial_birth_factor
        evidence.append(Evidence(attribute, round(similarity, 3), round(contribution, 3)))
    vetoes = tuple(a for a in _VETO_FLAGS if getattr(config, _VETO_FLAGS[a]) and sims.get(a) == 0.0)
    total = sum(e.weight for e in evidence)
    strength = round(100 * total / config.reference_weight)
    return Score(value=max(0, min(100, strength)), evidence=tuple(evidence), vetoes=vetoes, strength=strength)


_VETO_FLAGS = {
    Attribute.BIRTH_DATE: "veto_birth_date_conflict",
    Attribute.GENDER: "veto_gender_conflict",
    Attribute.SSN: "veto_ssn_conflict",
    Attribute.GIVEN_NAME: "veto_given_name_conflict",
}
