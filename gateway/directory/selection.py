"""Choosing the gateways a pull asks: all active, by state, by distance from the patient, or an explicit list,
always with a cap. The result says what was chosen and why the rest was not, and is stored with the job.

Distance is great-circle (haversine) from the patient's position: given explicitly, else the geographic
centre of the patient's state (a coarse but honest stand-in without a geocoder). Communities without a
position are never "near".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from gateway.directory.geo import STATE_CENTERS
from gateway.directory.models import Community
from xca.errors import ConfigError

__all__ = [
    "GeoPoint",
    "SelectedGateway",
    "Selection",
    "SelectionSpec",
    "SelectionStrategy",
    "distance_km",
    "select_gateways",
]

DEFAULT_CAP: Final = 500


class SelectionStrategy(StrEnum):
    ALL = "all"
    STATE = "state"
    DISTANCE = "distance"
    EXPLICIT = "explicit"


@dataclass(frozen=True)
class GeoPoint:
    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        if not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):
            raise ConfigError("a position needs latitude -90..90 and longitude -180..180")


def distance_km(a: GeoPoint, b: GeoPoint) -> float:
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat, dlon = lat2 - lat1, math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class SelectionSpec:
    """How to choose. ``states`` default to the patient's state; ``radius_km`` limits DISTANCE (nearest
    first either way); ``communities`` are the EXPLICIT homeCommunityIds; ``cap`` bounds every strategy."""

    strategy: SelectionStrategy = SelectionStrategy.ALL
    states: tuple[str, ...] = ()
    radius_km: float | None = None
    communities: tuple[str, ...] = ()
    cap: int = DEFAULT_CAP

    def __post_init__(self) -> None:
        if not 1 <= self.cap <= 10_000:
            raise ConfigError("the gateway cap must be between 1 and 10000", detail={"setting": "cap"})
        if self.radius_km is not None and self.radius_km <= 0:
            raise ConfigError("the radius must be positive", detail={"setting": "radius_km"})
        if self.strategy is SelectionStrategy.EXPLICIT and not self.communities:
            raise ConfigError("an explicit selection names at least one community", detail={"setting": "to"})


@dataclass(frozen=True)
class SelectedGateway:
    """One chosen community and the endpoints to call for it."""

    community: Community
    distance_km: float | None = None


@dataclass(frozen=True)
class Selection:
    """The chosen gateways (in asking order) and, for each left out, the reason."""

    spec: SelectionSpec
    chosen: tuple[SelectedGateway, ...]
    excluded: dict[str, str] = field(default_factory=dict)
    origin: GeoPoint | None = None

    def to_json(self) -> dict[str, Any]:
        """The record stored with the job."""
        return {
            "strategy": self.spec.strategy.value,
            "states": list(self.spec.states),
            "radius_km": self.spec.radius_km,
            "communities": list(self.spec.communities),
            "cap": self.spec.cap,
            "origin": [self.origin.latitude, self.origin.longitude] if self.origin else None,
            "chosen": [
                {
                    "home_community_id": g.community.home_community_id,
                    "name": g.community.name,
                    "via": g.community.via,
                    "distance_km": None if g.distance_km is None else round(g.distance_km, 1),
                }
                for g in self.chosen
            ],
            "excluded": dict(sorted(self.excluded.items())),
        }


def _origin(patient_point: GeoPoint | None, patient_state: str | None) -> GeoPoint | None:
    if patient_point is not None:
        return patient_point
    center = STATE_CENTERS.get((patient_state or "").upper())
    return GeoPoint(*center) if center else None


def _distance(community: Community, origin: GeoPoint | None) -> float | None:
    where = community.location
    if origin is None or where.latitude is None or where.longitude is None:
        return None
    return distance_km(origin, GeoPoint(where.latitude, where.longitude))


def select_gateways(
    communities: Iterable[Community],
    spec: SelectionSpec,
    *,
    patient_state: str | None = None,
    patient_point: GeoPoint | None = None,
) -> Selection:
    """Apply ``spec`` to resolved communities (see :func:`~gateway.directory.models.resolve_gateways`)."""
    origin = _origin(patient_point, patient_state)
    by_id = {c.home_community_id: c for c in communities}
    excluded: dict[str, str] = {}
    pool: list[Community] = []
    if spec.strategy is SelectionStrategy.EXPLICIT:
        for hcid in dict.fromkeys(spec.communities):
            community = by_id.get(hcid)
            if community is None:
                excluded[hcid] = "not in the directory"
            else:
                pool.append(community)
    else:
        pool = list(by_id.values())
    eligible: list[Community] = []
    for community in pool:
        if not community.active:
            excluded[community.home_community_id] = "inactive in the directory"
        elif not community.reachable:
            excluded[community.home_community_id] = "no ITI-55 endpoint (own or through partOf)"
        else:
            eligible.append(community)
    if spec.strategy is SelectionStrategy.STATE:
        states = {s.upper() for s in spec.states} or ({patient_state.upper()} if patient_state else set())
        if not states:
            raise ConfigError("selection by state needs --state or the patient's address state")
        for community in eligible:
            if (community.location.state or "").upper() not in states:
                excluded[community.home_community_id] = "other state"
        eligible = [c for c in eligible if (c.location.state or "").upper() in states]
    if spec.strategy is SelectionStrategy.DISTANCE:
        if origin is None:
            raise ConfigError("selection by distance needs the patient's position or state")
        kept: list[Community] = []
        for community in eligible:
            km = _distance(community, origin)
            if km is None:
                excluded[community.home_community_id] = "no position in the directory"
            elif spec.radius_km is not None and km > spec.radius_km:
                excluded[community.home_community_id] = f"{km:.0f} km away (radius {spec.radius_km:.0f} km)"
            else:
                kept.append(community)
        eligible = kept
    chosen = _ordered(eligible, origin, explicit=spec.strategy is SelectionStrategy.EXPLICIT)
    for gateway in chosen[spec.cap :]:
        excluded[gateway.community.home_community_id] = f"over the cap of {spec.cap}"
    return Selection(spec, tuple(chosen[: spec.cap]), excluded, origin)


def _ordered(
    eligible: Sequence[Community], origin: GeoPoint | None, *, explicit: bool
) -> list[SelectedGateway]:
    gateways = [SelectedGateway(c, _distance(c, origin)) for c in eligible]
    if explicit:
        return gateways
    return sorted(
        gateways,
        key=lambda g: (g.distance_km is None, g.distance_km or 0.0, g.community.home_community_id),
    )
