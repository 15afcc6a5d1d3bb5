"""The raw document store: each original document is kept once per (tenant, community, unique id).

Storing is idempotent: the same bytes under the same unique id are a no-op that returns the existing row, so a
resumed or repeated pull never duplicates documents. Different bytes under a known unique id are refused
(``DocumentConflictError``): XDS unique ids name immutable content.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.store.models import RawDocument, Tenant
from xca.errors import DocumentConflictError

__all__ = ["StoredDocument", "ensure_tenant", "load_document_content", "store_raw_document"]


@dataclass(frozen=True)
class StoredDocument:
    id: uuid.UUID
    sha256: str
    size: int
    created: bool


def ensure_tenant(session: Session, slug: str, name: str) -> Tenant:
    """The tenant with ``slug``, created on first use."""
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        tenant = Tenant(slug=slug, name=name)
        session.add(tenant)
        session.flush()
    return tenant


def store_raw_document(
    session: Session,
    tenant: Tenant,
    *,
    home_community_id: str,
    repository_id: str,
    unique_id: str,
    mime_type: str,
    content: bytes | memoryview,
) -> StoredDocument:
    """Keep ``content`` once; return whether this call created the row."""
    digest = hashlib.sha256(content).hexdigest()
    key = (RawDocument.tenant_id == tenant.id) & (RawDocument.home_community_id == home_community_id)
    key &= RawDocument.unique_id == unique_id
    existing = session.execute(
        select(RawDocument.id, RawDocument.sha256, RawDocument.size).where(key)
    ).first()
    if existing is None:
        row = RawDocument(
            tenant_id=tenant.id,
            home_community_id=home_community_id,
            repository_id=repository_id,
            unique_id=unique_id,
            mime_type=mime_type,
            sha256=digest,
            size=len(content),
            content=bytes(content),
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # Another worker stored it between our read and our insert: fall through to the comparison.
            existing = session.execute(
                select(RawDocument.id, RawDocument.sha256, RawDocument.size).where(key)
            ).one()
        else:
            return StoredDocument(id=row.id, sha256=digest, size=row.size, created=True)
    if existing.sha256 != digest:
        raise DocumentConflictError(
            "a different document is already stored under this unique id",
            detail={"home_community_id": home_community_id, "stored_sha256": existing.sha256},
        )
    return StoredDocument(id=existing.id, sha256=existing.sha256, size=existing.size, created=False)


def load_document_content(session: Session, document_id: uuid.UUID) -> bytes | None:
    return session.scalar(select(RawDocument.content).where(RawDocument.id == document_id))
