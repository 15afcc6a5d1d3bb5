"""The imported directory in the database (``remote_community``): import (upsert), list, show.

An import replaces what a community's row says; communities missing from the new file are kept (a partial
export must not silently empty the directory) unless ``prune=True``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.directory.models import Community, Endpoints, Location, UnknownCommunityError, resolve_gateways
from gateway.store.models import utcnow
from gateway.store.pull import RemoteCommunity

__all__ = ["ImportResult", "get_community", "import_communities", "list_communities"]


@dataclass(frozen=True)
class ImportResult:
    added: int
    updated: int
    unchanged: int
    removed: int = 0


def _row_values(community: Community, source: str) -> dict[str, object]:
    where, own = community.location, community.endpoints
    return {
        "name": community.name[:255],
        "active": community.active,
        "part_of": community.part_of,
        "city": where.city,
        "state": where.state,
        "postal_code": where.postal_code,
        "latitude": where.latitude,
        "longitude": where.longitude,
        "iti55_url": own.iti55,
        "iti38_url": own.iti38,
        "iti39_url": own.iti39,
        "source": source[:255],
    }


def import_communities(
    session: Session, communities: Iterable[Community], *, source: str, prune: bool = False
) -> ImportResult:
    """Upsert ``communities``; the caller commits."""
    existing = {row.home_community_id: row for row in session.scalars(select(RemoteCommunity))}
    added = updated = unchanged = 0
    seen: set[str] = set()
    for community in communities:
        seen.add(community.home_community_id)
        values = _row_values(community, source)
        row = existing.get(community.home_community_id)
        if row is None:
            session.add(RemoteCommunity(home_community_id=community.home_community_id, **values))
            added += 1
            continue
        changed = any(getattr(row, k) != v for k, v in values.items() if k != "source")
        for key, value in values.items():
            setattr(row, key, value)
        if changed:
            row.imported_at = utcnow()
            updated += 1
        else:
            unchanged += 1
    removed = 0
    if prune:
        stale = set(existing) - seen
        if stale:
            session.execute(delete(RemoteCommunity).where(RemoteCommunity.home_community_id.in_(stale)))
            removed = len(stale)
    session.flush()
    return ImportResult(added, updated, unchanged, removed)


def _community(row: RemoteCommunity) -> Community:
    return Community(
        home_community_id=row.home_community_id,
        name=row.name,
        active=row.active,
        location=Location(row.city, row.state, row.postal_code, row.latitude, row.longitude),
        endpoints=Endpoints(row.iti55_url, row.iti38_url, row.iti39_url),
        part_of=row.part_of,
    )


def list_communities(session: Session) -> list[Community]:
    """Every community, resolved (``gateway`` and ``via`` set), ordered by homeCommunityId."""
    rows = session.scalars(select(RemoteCommunity).order_by(RemoteCommunity.home_community_id))
    return resolve_gateways(_community(row) for row in rows)


def get_community(session: Session, home_community_id: str) -> Community:
    for community in list_communities(session):
        if community.home_community_id == home_community_id:
            return community
    raise UnknownCommunityError(
        "the directory does not list this community", detail={"home_community_id": home_community_id}
    )
