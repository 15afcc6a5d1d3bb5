"""Documents already in the raw store, and whose they are.

The raw store keys a document by (tenant, community, unique id) alone, because XDS unique ids name immutable
content. Ids still collide in practice (a partner that reuses them, two sandboxes with the same communities),
so a held document is only ever attached to the patient it was stored for: its owners are the local patients
of the pull jobs that attached it and of the clinic's own documents that serve it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.store import ClinicDocument, PullJob, PullJobDocument, RawDocument

__all__ = ["HeldDocument", "held_documents", "listing_mismatch", "matches_listing"]


@dataclass(frozen=True)
class HeldDocument:
    """A stored document: its row, size, and the local patients it was stored for."""

    id: uuid.UUID
    size: int
    owners: frozenset[uuid.UUID]

    def foreign_to(self, patient_id: uuid.UUID) -> bool:
        """Stored for some other local patient (whether or not also for this one)."""
        return bool(self.owners - {patient_id})


def held_documents(
    session: Session, tenant_id: int, hcid: str, unique_ids: Collection[str]
) -> dict[str, HeldDocument]:
    """The documents of ``hcid`` among ``unique_ids`` already stored for the tenant, by unique id."""
    if not unique_ids:
        return {}
    rows = session.execute(
        select(RawDocument.unique_id, RawDocument.id, RawDocument.size).where(
            RawDocument.tenant_id == tenant_id,
            RawDocument.home_community_id == hcid,
            RawDocument.unique_id.in_(list(unique_ids)),
        )
    ).all()
    if not rows:
        return {}
    raw_ids = [raw_id for _, raw_id, _ in rows]
    owners: dict[uuid.UUID, set[uuid.UUID]] = {}
    pulled = session.execute(
        select(PullJobDocument.raw_document_id, PullJob.patient_id)
        .join(PullJob, PullJob.id == PullJobDocument.job_id)
        .where(PullJob.tenant_id == tenant_id, PullJobDocument.raw_document_id.in_(raw_ids))
        .distinct()
    )
    served = session.execute(
        select(ClinicDocument.raw_document_id, ClinicDocument.patient_id).where(
            ClinicDocument.tenant_id == tenant_id, ClinicDocument.raw_document_id.in_(raw_ids)
        )
    )
    for raw_id, patient_id in [*pulled, *served]:
        if raw_id is not None:
            owners.setdefault(raw_id, set()).add(patient_id)
    return {
        unique_id: HeldDocument(raw_id, size, frozenset(owners.get(raw_id, ())))
        for unique_id, raw_id, size in rows
    }


def listing_mismatch(
    size: int | None, sha1: str | None, *, length: int, content: Callable[[], bytes | memoryview | None]
) -> str | None:
    """``size-mismatch`` or ``hash-mismatch`` when a document of ``length`` bytes disagrees with the size or
    SHA-1 its ITI-38 listing gives (each only when given; a SHA-1 only when it has 40 digits), else None.
    ``content`` is called only when a hash has to be compared."""
    if size is not None and size != length:
        return "size-mismatch"
    if sha1 and len(sha1) == 40:
        data = content()
        if data is None or hashlib.sha1(data, usedforsecurity=False).hexdigest() != sha1.lower():
            return "hash-mismatch"
    return None


def matches_listing(session: Session, held: HeldDocument, *, size: int | None, sha1: str | None) -> bool:
    """Whether the stored bytes agree with the size and SHA-1 an ITI-38 listing gives (each when given)."""

    def stored() -> bytes | None:
        # Only SHA-256 is kept per row; the listing's SHA-1 needs the bytes, read only when a hash was given.
        return session.scalar(select(RawDocument.content).where(RawDocument.id == held.id))

    return listing_mismatch(size, sha1, length=held.size, content=stored) is None
