"""The directory's model: a remote community (one Carequality-style Organization) and where its gateway is.

Frozen dataclasses; homeCommunityIds are bare OIDs. A community without endpoints of its own is reached
through the nearest ancestor (``partOf``) that has them: :attr:`Community.via` names that ancestor once the
directory is resolved (:func:`resolve_gateways`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from urllib.parse import urlsplit

from xca.errors import DirectoryError, DirectoryFormatError, UnknownCommunityError

__all__ = [
    "Community",
    "DirectoryError",
    "DirectoryFormatError",
    "Endpoints",
    "Location",
    "TransactionKind",
    "UnknownCommunityError",
    "resolve_gateways",
]


class TransactionKind(StrEnum):
    """The Sequoia ``Transaction`` extension's values, one per endpoint."""

    ITI55 = "XCPD ITI-55"
    ITI38 = "XCA ITI-38"
    ITI39 = "XCA ITI-39"


@dataclass(frozen=True)
class Endpoints:
    """The SOAP URLs of one gateway (``None`` where the organization lists no such endpoint)."""

    iti55: str | None = None
    iti38: str | None = None
    iti39: str | None = None

    @property
    def any(self) -> bool:
        return bool(self.iti55 or self.iti38 or self.iti39)

    @property
    def origin(self) -> str | None:
        """``scheme://host:port`` of the ITI-55 endpoint (else any): the remote gateway's identity for
        connection pooling and per-host limits."""
        url = self.iti55 or self.iti38 or self.iti39
        if url is None:
            return None
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass(frozen=True)
class Location:
    """Where an organization is: postal parts and, when the directory gives it, its position."""

    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    @property
    def has_position(self) -> bool:
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True)
class Community:
    """One remote community. ``endpoints`` are its own; :attr:`gateway` are the ones to call (its own, else
    the ancestor's named by ``via`` after :func:`resolve_gateways`)."""

    home_community_id: str
    name: str
    active: bool = True
    location: Location = Location()
    endpoints: Endpoints = Endpoints()
    part_of: str | None = None
    via: str | None = None
    gateway: Endpoints = Endpoints()

    @property
    def reachable(self) -> bool:
        return self.gateway.iti55 is not None


def resolve_gateways(communities: Iterable[Community]) -> list[Community]:
    """Give each community the endpoints to call: its own, else those of the nearest ``partOf`` ancestor
    that has them (``via`` names it). Cycles and missing parents leave a community unreachable."""
    by_id: Mapping[str, Community] = {c.home_community_id: c for c in communities}
    resolved: list[Community] = []
    for community in by_id.values():
        if community.endpoints.any:
            resolved.append(replace(community, via=None, gateway=community.endpoints))
            continue
        seen = {community.home_community_id}
        parent_id = community.part_of
        found: Community | None = None
        while parent_id is not None and parent_id not in seen:
            seen.add(parent_id)
            parent = by_id.get(parent_id)
            if parent is None:
                break
            if parent.endpoints.any:
                found = parent
                break
            parent_id = parent.part_of
        if found is None:
            resolved.append(replace(community, via=None, gateway=Endpoints()))
        else:
            resolved.append(replace(community, via=found.home_community_id, gateway=found.endpoints))
    return resolved
