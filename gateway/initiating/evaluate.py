"""Judging an ITI-55 answer on the initiating side: accept one match, or say why not.

A responder's match is accepted only when it is unambiguous and strong, and its demographics agree with what
was asked. Each refusal is a value with a stable ``code`` and a PHI-free ``reason``:

* ``no-match``: NF (with the attributes the responder asked for, if any), or OK without a match;
* ``query-error``: AE/QE acknowledgement (the responder's error codes);
* ``ambiguous``: several patients from one community for one query;
* ``conflict-birth-date`` / ``conflict-gender`` / ``conflict-name`` / ``conflict-identifier``: the match
  contradicts the request (a veto of the project's scorer, the same rules the responding side uses);
* ``weak-match``: the responder's score (or ours, when it sent none or ours is lower) is below the threshold;
* ``unusable``: a match without an assigning authority OID or patient id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.matching import Attribute, MatchConfig, normalize_demographics, score_candidate
from xca.ids import is_oid
from xca.iti55 import AckCode, Demographics, Iti55Response, PatientMatch, QueryResponseCode

__all__ = ["MatchDecision", "RejectCode", "evaluate_matches"]


class RejectCode(StrEnum):
    NO_MATCH = "no-match"
    QUERY_ERROR = "query-error"
    AMBIGUOUS = "ambiguous"
    CONFLICT_BIRTH_DATE = "conflict-birth-date"
    CONFLICT_GENDER = "conflict-gender"
    CONFLICT_NAME = "conflict-name"
    CONFLICT_IDENTIFIER = "conflict-identifier"
    WEAK_MATCH = "weak-match"
    UNUSABLE = "unusable"


_VETO_CODES = {
    Attribute.BIRTH_DATE: RejectCode.CONFLICT_BIRTH_DATE,
    Attribute.GENDER: RejectCode.CONFLICT_GENDER,
    Attribute.GIVEN_NAME: RejectCode.CONFLICT_NAME,
    Attribute.FAMILY_NAME: RejectCode.CONFLICT_NAME,
    Attribute.SSN: RejectCode.CONFLICT_IDENTIFIER,
}


@dataclass(frozen=True)
class MatchDecision:
    """``match`` when accepted; else ``code`` and ``reason``. ``score`` is the score the decision used."""

    match: PatientMatch | None
    code: RejectCode | None = None
    reason: str | None = None
    score: int | None = None
    error_codes: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.match is not None


def evaluate_matches(
    asked: Demographics, response: Iti55Response, *, threshold: int, config: MatchConfig | None = None
) -> MatchDecision:
    """Accept the response's one match, or reject with a reason."""
    config = config or MatchConfig()
    code = response.query_response_code
    if response.ack_code == AckCode.AE or code in (QueryResponseCode.AE, QueryResponseCode.QE):
        errors = response.error_codes or (str(code),)
        return MatchDecision(
            None, RejectCode.QUERY_ERROR, f"the gateway answered {code} ({', '.join(errors)})", None, errors
        )
    if code == QueryResponseCode.NF or not response.matches:
        wanted = response.requested_attributes
        reason = "no match" + (f"; the gateway asks for {', '.join(wanted)}" if wanted else "")
        return MatchDecision(None, RejectCode.NO_MATCH, reason, None, tuple(wanted))
    distinct = {(m.patient_id.root, m.patient_id.extension) for m in response.matches}
    if len(distinct) > 1:
        return MatchDecision(
            None, RejectCode.AMBIGUOUS, f"{len(distinct)} different patients matched one query (ambiguous)"
        )
    match = response.matches[0]
    if not is_oid(match.patient_id.root) or not match.patient_id.extension:
        return MatchDecision(None, RejectCode.UNUSABLE, "the match has no usable patient id")
    ours = score_candidate(normalize_demographics(asked), normalize_demographics(match.demographics), config)
    if ours.vetoed:
        veto = ours.vetoes[0]
        reject = _VETO_CODES.get(veto, RejectCode.CONFLICT_NAME)
        return MatchDecision(
            None, reject, f"the match contradicts the request ({veto.value})", match.score or ours.value
        )
    theirs = match.score
    used = ours.value if theirs is None else min(theirs, ours.value)
    if used < threshold:
        who = "our cross-check" if theirs is None or ours.value < theirs else "the gateway's"
        return MatchDecision(
            None, RejectCode.WEAK_MATCH, f"weak match: {who} score {used} is below {threshold}", used
        )
    return MatchDecision(match, score=theirs if theirs is not None else ours.value)
