"""Blocking: which local patients an inbound query is scored against, and the keys that make that cheap.

Keys (table ``patient_match_key``): one row per name of a patient, its family-name metaphone and the birth
date. Candidates are patients with the query's birth date (any name: catches swapped names, maiden names
and typos in the family name), or with a family name that sounds the same and the same birth year (a query
that gives only a year or a mistyped day), or with one of the query's identifiers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gateway.matching.names import phonetic_key
from gateway.matching.normalize import NormalizedPerson
from gateway.store.clinic import PatientMatchKey
from gateway.store.models import PatientIdentifier, Tenant

__all__ = ["candidate_ids", "family_keys", "match_key_rows"]


def family_keys(person: NormalizedPerson) -> frozenset[str]:
    """Metaphone keys of every family name (whole compound names and their parts)."""
    keys: set[str] = set()
    for name in person.names:
        if name.family:
            keys.add(phonetic_key("".join(name.family))[:32])
            keys.update(phonetic_key(part)[:32] for part in name.family)
    keys.discard("")
    return frozenset(keys)


def match_key_rows(tenant: Tenant, patient_id: uuid.UUID, person: NormalizedPerson) -> list[PatientMatchKey]:
    """The blocking rows of one patient (replace them all when the demographics change)."""
    keys = family_keys(person) or frozenset({""})
    return [
        PatientMatchKey(
            tenant_id=tenant.id,
            patient_id=patient_id,
            family_key=key,
            birth_date=person.birth_date,
            birth_year=person.birth_year,
        )
        for key in sorted(keys)
    ]


def candidate_ids(
    session: Session,
    tenant: Tenant,
    query: NormalizedPerson,
    *,
    identifiers: Iterable[tuple[str, str]] = (),
    limit: int = 200,
) -> list[uuid.UUID]:
    """Ids of the local patients worth scoring for ``query`` (at most ``limit``, oldest first)."""
    conditions = []
    if query.birth_date is not None:
        conditions.append(PatientMatchKey.birth_date == query.birth_date)
    keys = family_keys(query) | _swapped_keys(query)
    if keys and query.birth_year is not None:
        conditions.append(
            PatientMatchKey.family_key.in_(sorted(keys)) & (PatientMatchKey.birth_year == query.birth_year)
        )
    found: dict[uuid.UUID, None] = {}
    if conditions:
        rows = session.scalars(
            select(PatientMatchKey.patient_id)
            .where(PatientMatchKey.tenant_id == tenant.id, or_(*conditions))
            .order_by(PatientMatchKey.id)
            .limit(limit * 4)
        )
        found.update(dict.fromkeys(rows))
    wanted = list(identifiers)
    if wanted:
        id_conditions = [
            (PatientIdentifier.system == root) & (PatientIdentifier.value == value) for root, value in wanted
        ]
        rows = session.scalars(
            select(PatientIdentifier.patient_id).where(
                PatientIdentifier.tenant_id == tenant.id, or_(*id_conditions)
            )
        )
        found.update(dict.fromkeys(rows))
    return list(found)[:limit]


def _swapped_keys(query: NormalizedPerson) -> frozenset[str]:
    """Keys of the given names too, for queries that swapped given and family name."""
    return frozenset(k for name in query.names for k in (phonetic_key(t)[:32] for t in name.given) if k)
