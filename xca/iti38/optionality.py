"""Which DocumentEntry attributes a Responding Gateway must send (IHE ITI TF-3 4.3.1, Table 4.3.1-3).

The table lists, per sending actor, R (required), R2 (required if known), O (optional) and X (prohibited).
It has no column of its own for an XCA Responding Gateway: a query answer carries registry metadata, so the
rule used here is the registered form (the "XDS DR" column, where the repository has added hash, size and
repositoryUniqueId to the source's R attributes; "XDS OD" for on-demand entries, where hash and size are X),
plus ``homeCommunityId``, which ITI TF-2b 3.38.4.1.2.1 requires on every ExtrinsicObject of a response.
R2 attributes (author, serviceStartTime, serviceStopTime) and O attributes are never enforced.

:func:`missing_required` serves both sides: the builder refuses an entry that lacks one (strict out), the
parser only records :attr:`~xca.iti38.constants.Quirk.MISSING_ENTRY_METADATA` (tolerant in).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from xca.iti38.constants import EntryType
from xca.iti38.models import DocumentEntry

__all__ = ["missing_required", "prohibited_present"]

# (attribute name as in TF-3 4.2.3.2, present?) in the table's order; names go into messages, never values.
_REQUIRED: Final[tuple[tuple[str, Callable[[DocumentEntry], bool]], ...]] = (
    ("classCode", lambda d: d.class_code is not None),
    ("confidentialityCode", lambda d: bool(d.confidentiality_codes)),
    ("creationTime", lambda d: d.creation_time is not None),
    ("formatCode", lambda d: d.format_code is not None),
    ("healthcareFacilityTypeCode", lambda d: d.healthcare_facility_type_code is not None),
    ("homeCommunityId", lambda d: bool(d.home_community_id)),
    ("languageCode", lambda d: bool(d.language_code)),
    ("mimeType", lambda d: bool(d.mime_type)),
    ("patientId", lambda d: d.patient_id is not None),
    ("practiceSettingCode", lambda d: d.practice_setting_code is not None),
    ("repositoryUniqueId", lambda d: bool(d.repository_unique_id)),
    ("sourcePatientId", lambda d: d.source_patient_id is not None),
    ("typeCode", lambda d: d.type_code is not None),
    ("uniqueId", lambda d: bool(d.unique_id)),
)
_STABLE_ONLY: Final[tuple[tuple[str, Callable[[DocumentEntry], bool]], ...]] = (
    ("hash", lambda d: bool(d.hash)),
    ("size", lambda d: d.size is not None),
)


def missing_required(doc: DocumentEntry) -> tuple[str, ...]:
    """Names of the required attributes ``doc`` lacks (hash and size only for stable entries)."""
    rules = _REQUIRED + (_STABLE_ONLY if doc.entry_type is EntryType.STABLE else ())
    return tuple(name for name, present in rules if not present(doc))


def prohibited_present(doc: DocumentEntry) -> tuple[str, ...]:
    """Names of attributes ``doc`` carries although its entry type forbids them (hash, size on-demand)."""
    if doc.entry_type is EntryType.STABLE:
        return ()
    return tuple(name for name, present in _STABLE_ONLY if present(doc))
