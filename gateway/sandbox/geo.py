"""Where the sandbox's synthetic organizations and persons are: six US metro areas with real coordinates.

Gateways are spread over the metros round-robin; each organization sits in one of its metro's towns (real
town-centre coordinates plus a small seeded offset, so no two share a point). Persons live in a metro and
are mostly seen by organizations of that metro, which makes distance-based gateway selection testable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

__all__ = ["METROS", "Metro", "Place", "Town", "organization_name", "place_for"]


@dataclass(frozen=True)
class Town:
    name: str
    postal_code: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class Metro:
    name: str
    state: str
    area_code: str
    towns: tuple[Town, ...]


METROS: Final = (
    Metro("Boston", "MA", "617", (
        Town("Boston", "02114", 42.3601, -71.0589),
        Town("Cambridge", "02139", 42.3736, -71.1097),
        Town("Quincy", "02169", 42.2529, -71.0023),
        Town("Newton", "02458", 42.3370, -71.2092),
    )),
    Metro("Chicago", "IL", "312", (
        Town("Chicago", "60611", 41.8781, -87.6298),
        Town("Evanston", "60201", 42.0451, -87.6877),
        Town("Oak Park", "60302", 41.8850, -87.7845),
        Town("Naperville", "60540", 41.7508, -88.1535),
    )),
    Metro("Atlanta", "GA", "404", (
        Town("Atlanta", "30303", 33.7490, -84.3880),
        Town("Decatur", "30030", 33.7748, -84.2963),
        Town("Marietta", "30060", 33.9526, -84.5499),
        Town("Sandy Springs", "30328", 33.9304, -84.3733),
    )),
    Metro("Denver", "CO", "303", (
        Town("Denver", "80202", 39.7392, -104.9903),
        Town("Aurora", "80012", 39.7294, -104.8319),
        Town("Lakewood", "80226", 39.7047, -105.0814),
        Town("Boulder", "80302", 40.0150, -105.2705),
    )),
    Metro("Seattle", "WA", "206", (
        Town("Seattle", "98104", 47.6062, -122.3321),
        Town("Bellevue", "98004", 47.6101, -122.2015),
        Town("Tacoma", "98402", 47.2529, -122.4443),
        Town("Everett", "98201", 47.9790, -122.2021),
    )),
    Metro("Austin", "TX", "512", (
        Town("Austin", "78701", 30.2672, -97.7431),
        Town("Round Rock", "78664", 30.5083, -97.6789),
        Town("San Marcos", "78666", 29.8833, -97.9414),
        Town("Georgetown", "78626", 30.6333, -97.6770),
    )),
)  # fmt: skip

_STREETS: Final = (
    "Main", "Washington", "Park", "Oak", "Pine", "Maple", "Cedar", "Elm", "Lake", "Hill", "Church", "River",
    "Spring", "Center", "Highland", "Sunset", "Franklin", "Jefferson", "Lincoln", "Madison",
)  # fmt: skip
_SUFFIXES: Final = ("Street", "Avenue", "Road", "Boulevard", "Drive", "Lane")
_ORG_KINDS: Final = (
    "Community Health Center", "Medical Center", "Family Medicine", "Regional Hospital", "Primary Care",
    "Internal Medicine Associates", "Health System", "Pediatrics and Family Care", "Cardiology Group",
    "Women's Health", "Urgent Care", "Orthopedic Clinic",
)  # fmt: skip


@dataclass(frozen=True)
class Place:
    """A street address in a metro's town, with coordinates."""

    metro: int
    street: str
    town: Town
    latitude: float
    longitude: float

    @property
    def state(self) -> str:
        return METROS[self.metro].state

    @property
    def city(self) -> str:
        return self.town.name


def street(rng: random.Random) -> str:
    return f"{rng.randint(10, 9899)} {rng.choice(_STREETS)} {rng.choice(_SUFFIXES)}"


def place_for(metro: int, rng: random.Random) -> Place:
    """A seeded address in ``metro``: a town, a street, coordinates within about 3 km of the town centre."""
    town = rng.choice(METROS[metro].towns)
    return Place(
        metro=metro,
        street=street(rng),
        town=town,
        latitude=round(town.latitude + rng.uniform(-0.025, 0.025), 5),
        longitude=round(town.longitude + rng.uniform(-0.025, 0.025), 5),
    )


def organization_name(index: int, place: Place, rng: random.Random) -> str:
    """``Cambridge Family Medicine`` and the like; the index keeps names unique in large sandboxes."""
    name = f"{place.town.name} {rng.choice(_ORG_KINDS)}"
    return name if index < len(_ORG_KINDS) * 4 else f"{name} {index}"
