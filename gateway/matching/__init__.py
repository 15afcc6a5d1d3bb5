"""Patient matching for inbound ITI-55: normalize, block, score, decide; never a wrong match.

:func:`normalize_demographics` turns an ITI-55 query or a local record into a :class:`NormalizedPerson`;
:func:`candidate_ids` picks the local patients worth scoring (blocking on birth date and family-name
metaphone); :func:`score_candidate` is the pure 0–100 scorer (rapidfuzz Jaro-Winkler, jellyfish metaphone,
a nickname table); :func:`decide` returns :class:`Match`, :class:`NoMatch` or :class:`Ambiguous` (with the
attributes to request). :class:`MatchConfig` holds the weights and thresholds.
"""

from gateway.matching.candidates import candidate_ids, family_keys, match_key_rows
from gateway.matching.decision import Ambiguous, Candidate, Match, MatchResult, NoMatch, decide
from gateway.matching.names import family_similarity, given_similarity, nickname_groups, phonetic_key
from gateway.matching.normalize import (
    NormalizedAddress,
    NormalizedName,
    NormalizedPerson,
    normalize_demographics,
    normalize_text,
)
from gateway.matching.scorer import Attribute, Evidence, MatchConfig, Score, Weight, score_candidate

__all__ = [
    "Ambiguous",
    "Attribute",
    "Candidate",
    "Evidence",
    "Match",
    "MatchConfig",
    "MatchResult",
    "NoMatch",
    "NormalizedAddress",
    "NormalizedName",
    "NormalizedPerson",
    "Score",
    "Weight",
    "candidate_ids",
    "decide",
    "family_keys",
    "family_similarity",
    "given_similarity",
    "match_key_rows",
    "nickname_groups",
    "normalize_demographics",
    "normalize_text",
    "phonetic_key",
    "score_candidate",
]
