"""The sandbox's synthetic population: persons seen at several organizations, decoys, and background.

Each of the P *persons* (the ones ``patients.json`` lists) lives in one metro (the metros of the gateways in
turn) and is registered at ``k`` gateways (1 to 4, seeded; gateways of the home metro first, least loaded
first). Every registration after
the first varies the demographics the way real registrations differ (nickname for the given name, missing
or initial-only middle name, a typo in the family name, the maiden name kept beside the married one, an
older address, another phone number or phone format); the responder's matcher still matches them all.

Each person also has one *decoy*: a twin (same family name, birth date, address and phone; another given
name) at one of the person's gateways, or a namesake (same name, another birth date and city). Decoys have
records of their own and must never be returned for the person. Each gateway also holds a few
*background* patients without documents, so matching always has several candidates to tell apart.

:func:`plan_population` checks every registration with the project's own matcher before anything is
written: each person's query (as ``patients.json`` states it, with and without address and phone) must
match exactly the person's records and nothing else; a variation that would not match is replaced by a
milder one.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from gateway.matching import (
    Candidate,
    Match,
    MatchConfig,
    NoMatch,
    NormalizedPerson,
    decide,
    normalize_demographics,
)
from gateway.sandbox.geo import METROS, Place, place_for
from xca.iti55 import Address, AdministrativeGender, Demographics, PersonName, Telecom

__all__ = [
    "Person",
    "Population",
    "Registration",
    "person_json",
    "plan_population",
    "query_demographics",
]

# Formal given names with a nickname the matcher's table knows (gateway/matching/nicknames.csv), and a few
# without one.
_NICKNAMES: Final = {
    "William": "Bill", "Robert": "Bob", "Richard": "Rick", "James": "Jim", "Thomas": "Tom", "Michael": "Mike",
    "Joseph": "Joe", "Christopher": "Chris", "Daniel": "Danny", "Matthew": "Matt", "Anthony": "Tony",
    "Edward": "Ted", "Benjamin": "Ben", "Nicholas": "Nick", "Timothy": "Tim", "Gregory": "Greg",
    "Lawrence": "Larry", "Kenneth": "Ken", "Theodore": "Theo", "Elizabeth": "Liz", "Margaret": "Peggy",
    "Katherine": "Kate", "Patricia": "Trish", "Jennifer": "Jenny", "Rebecca": "Becky", "Susan": "Sue",
    "Deborah": "Debbie", "Victoria": "Vicky", "Abigail": "Abby", "Samantha": "Sammy", "Natalie": "Nat",
    "Eleanor": "Nell", "Dorothy": "Dottie", "Virginia": "Ginny", "Jessica": "Jess", "Pamela": "Pam",
    "Barbara": "Barb", "Cynthia": "Cindy",
}  # fmt: skip
_MALE: Final = (
    "William", "Robert", "Richard", "James", "Thomas", "Michael", "Joseph", "Christopher", "Daniel",
    "Matthew", "Anthony", "Edward", "Benjamin", "Nicholas", "Timothy", "Gregory", "Lawrence", "Kenneth",
    "Theodore", "Omar", "Wei", "Rahul", "Diego", "Kwame", "Mateo", "Hiroshi", "Ivan",
)  # fmt: skip
_FEMALE: Final = (
    "Elizabeth", "Margaret", "Katherine", "Patricia", "Jennifer", "Rebecca", "Susan", "Deborah", "Victoria",
    "Abigail", "Samantha", "Natalie", "Eleanor", "Dorothy", "Virginia", "Jessica", "Pamela", "Barbara",
    "Cynthia", "Priya", "Mei", "Aisha", "Rosa", "Ingrid", "Yolanda", "Fatima", "Noor",
)  # fmt: skip
_FAMILY: Final = (
    "Abernathy", "Okafor", "Nguyen", "Patel", "Kowalski", "Haddad", "Lindqvist", "Morales", "Fitzgerald",
    "Tanaka", "Brennan", "Delgado", "Whitaker", "Castellanos", "Sorensen", "Goldberg", "Oyelaran",
    "Ramanathan", "Thibodeaux", "Vasquez", "Halvorsen", "McAllister", "Brightwater", "Esposito",
    "Nakamura", "Winterbourne", "Achterberg", "Balasubramanian", "Callahan", "Demetriou", "Ferreira",
    "Gallagher", "Hoffmann", "Iwasaki", "Jablonski", "Kaminski", "Lachance", "Montgomery", "Novak",
    "Ostrowski", "Pellegrino", "Quinones", "Rasmussen", "Santangelo", "Trevino", "Underwood", "Valentine",
    "Westbrook", "Yamamoto", "Zielinski", "Ashford", "Bellamy", "Crenshaw", "Donnelly", "Eckhart",
)  # fmt: skip
_MIDDLE_SHARE: Final = 0.6
_PRESENCES: Final = ((1, 0.2), (2, 0.4), (3, 0.3), (4, 0.1))
_VARIATIONS: Final = (
    "nickname",
    "middle-missing",
    "middle-initial",
    "family-typo",
    "maiden-name",
    "address-moved",
    "phone-changed",
)


@dataclass(frozen=True)
class Person:
    """A synthetic person as they are (the canonical demographics a query states)."""

    label: str
    seed: int
    given: str
    middle: str | None
    family: str
    gender: AdministrativeGender
    birth_date: dt.date
    home: Place
    phone: str
    maiden: str | None = None

    @property
    def given_names(self) -> tuple[str, ...]:
        return (self.given, self.middle) if self.middle else (self.given,)

    def address(self) -> Address:
        return Address(
            (self.home.street,), self.home.city, self.home.state, self.home.town.postal_code, "US", "H"
        )


@dataclass(frozen=True)
class Registration:
    """One record of a person (or decoy, or background patient) at one gateway: the demographics as that
    organization registered them, and how many documents it holds."""

    owner: str
    gateway: int
    mrn: str
    demographics: Demographics
    variations: tuple[str, ...]
    documents: int
    kind: str  # "person", "twin", "namesake", "background"
    seed: int
    share: tuple[int, int] = (0, 1)  # (this presence, presences of the owner): which dated facts it holds


@dataclass(frozen=True)
class Population:
    """Everyone, and every registration, of one sandbox."""

    persons: tuple[Person, ...]
    decoys: tuple[tuple[Person, str, str], ...]  # (decoy, kind, label of the person it imitates)
    registrations: tuple[Registration, ...]
    checked_queries: int = 0
    by_gateway: dict[int, list[Registration]] = field(default_factory=dict, repr=False)

    def of(self, owner: str) -> list[Registration]:
        return [r for r in self.registrations if r.owner == owner]


def _phone(area: str, rng: random.Random) -> str:
    return f"+1-{area}-555-01{rng.randint(0, 99):02d}"


def _new_person(label: str, seed: int, rng: random.Random, metro: int) -> Person:
    female = rng.random() < 0.5
    given = rng.choice(_FEMALE if female else _MALE)
    middle_pool = [n for n in (_FEMALE if female else _MALE) if n != given and n[0] != given[0]]
    middle = rng.choice(middle_pool) if rng.random() < _MIDDLE_SHARE else None
    family = rng.choice(_FAMILY)
    maiden = None
    if female and rng.random() < 0.4:
        maiden = rng.choice([f for f in _FAMILY if f != family and f[0] != family[0]])
    birth = dt.date(rng.randint(1938, 2016), rng.randint(1, 12), rng.randint(1, 28))
    return Person(
        label=label,
        seed=seed,
        given=given,
        middle=middle,
        family=family,
        gender=AdministrativeGender.FEMALE if female else AdministrativeGender.MALE,
        birth_date=birth,
        home=place_for(metro, rng),
        phone=_phone(METROS[metro].area_code, rng),
        maiden=maiden,
    )


def _typo(name: str, rng: random.Random) -> str:
    """Two adjacent letters swapped (never the first), or a doubled letter: what a hurried clerk types."""
    if len(name) >= 5 and rng.random() < 0.6:
        i = rng.randint(2, len(name) - 2)
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    i = rng.randint(2, len(name) - 1)
    return name[:i] + name[i] + name[i:]


def _phone_style(phone: str, style: int) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())[-10:]
    area, exchange, line = digits[:3], digits[3:6], digits[6:]
    return (
        f"+1-{area}-{exchange}-{line}",
        f"({area}){exchange}-{line}",
        f"{area}.{exchange}.{line}",
        f"+1{area}{exchange}{line}",
    )[style % 4]


def _registered(person: Person, variations: Sequence[str], rng: random.Random, style: int) -> Demographics:
    given = person.given
    middle = person.middle
    family = person.family
    aliases: list[PersonName] = []
    address = person.address()
    phone = _phone_style(person.phone, style)
    for variation in variations:
        if variation == "nickname" and given in _NICKNAMES:
            given = _NICKNAMES[given]
        elif variation == "middle-missing":
            middle = None
        elif variation == "middle-initial" and middle:
            middle = middle[0]
        elif variation == "family-typo":
            family = _typo(family, rng)
        elif variation == "maiden-name" and person.maiden:
            # Registered before the marriage; the married name was added later as a second name.
            aliases.append(PersonName(given=(person.given,), family=family))
            family = person.maiden
        elif variation == "address-moved":
            older = place_for(person.home.metro, rng)
            address = Address((older.street,), older.city, older.state, older.town.postal_code, "US", "H")
        elif variation == "phone-changed":
            phone = _phone_style(_phone(METROS[person.home.metro].area_code, rng), style)
    names = (PersonName(given=(given, middle) if middle else (given,), family=family, use="L"), *aliases)
    return Demographics(
        names=names,
        gender=person.gender,
        birth_date=person.birth_date,
        addresses=(address,),
        telecoms=(Telecom(f"tel:{phone}", "HP"),),
    )


def query_demographics(
    person: Person, *, address: bool = True, phone: bool = True, middle: bool = True
) -> Demographics:
    """What an initiating gateway asks for this person from ``patients.json``."""
    given = person.given_names if middle else (person.given,)
    return Demographics(
        names=(PersonName(given=given, family=person.family),),
        gender=person.gender,
        birth_date=person.birth_date,
        addresses=(person.address(),) if address else (),
        telecoms=(Telecom(f"tel:{person.phone}"),) if phone else (),
    )


def _decoy(person: Person, kind: str, rng: random.Random, label: str) -> Person:
    if kind == "twin":
        female = rng.random() < 0.5
        taken = {person.given[0], *(person.middle[:1] if person.middle else "")}
        pool = [n for n in (_FEMALE if female else _MALE) if n[0] not in taken]
        return replace(
            person,
            label=label,
            seed=person.seed + 500_000,
            given=rng.choice(pool),
            middle=None,
            gender=AdministrativeGender.FEMALE if female else AdministrativeGender.MALE,
            maiden=None,
        )
    years = rng.choice((-1, 1)) * rng.randint(3, 25)
    birth = person.birth_date.replace(year=max(1930, min(2020, person.birth_date.year + years)))
    metro = (person.home.metro + rng.randint(1, len(METROS) - 1)) % len(METROS)
    return replace(
        person,
        label=label,
        seed=person.seed + 700_000,
        middle=None,
        birth_date=birth,
        home=place_for(metro, rng),
        phone=_phone(METROS[metro].area_code, rng),
        maiden=None,
    )


def _choose_gateways(
    count: int, metro: int, gateway_metros: Sequence[int], load: list[int], rng: random.Random
) -> list[int]:
    indices = list(range(len(gateway_metros)))
    rng.shuffle(indices)
    # Home-metro gateways first, then the others; least loaded first within each group.
    indices.sort(key=lambda i: (gateway_metros[i] != metro, load[i]))
    chosen = indices[:count]
    for i in chosen:
        load[i] += 1
    return chosen


_QUERY_FORMS: Final[tuple[dict[str, bool], ...]] = (
    {},
    {"address": False, "phone": False},
    {"middle": False, "address": False},
)


def _queries(person: Person) -> list[NormalizedPerson]:
    """The person's queries as a pull may send them: full, without address and phone, first name only."""
    return [normalize_demographics(query_demographics(person, **form)) for form in _QUERY_FORMS]


def _check_gateway(
    registrations: Sequence[Registration],
    askers: Iterable[tuple[str, Person, list[NormalizedPerson]]],
    config: MatchConfig,
) -> tuple[list[str], int]:
    """Owners whose queries do not come out right at one gateway, and the number of queries checked.

    Every registration is scored (a superset of what the gateway's blocking on birth date and family-name
    key would let through); an asker born in a year nobody here was born in can only get NF and is skipped.
    """
    candidates = [Candidate(r.owner, normalize_demographics(r.demographics)) for r in registrations]
    owners = {r.owner for r in registrations}
    years = {r.demographics.birth_date.year for r in registrations if r.demographics.birth_date}
    wrong: list[str] = []
    checked = 0
    for owner, person, queries in askers:
        if person.birth_date.year not in years:
            continue
        for query in queries:
            result = decide(query, candidates, config)
            checked += 1
            if owner in owners:
                ok = isinstance(result, Match) and result.ref == owner
            else:
                ok = isinstance(result, NoMatch)
            if not ok:
                wrong.append(owner)
                break
    return wrong, checked


def plan_population(
    *,
    persons: int,
    gateway_metros: Sequence[int],
    seed: int,
    documents: tuple[int, int] = (2, 4),
    background: int = 2,
    matching: MatchConfig | None = None,
) -> Population:
    """Persons, decoys and background patients, and where each is registered (see the module docstring)."""
    rng = random.Random(f"population:{seed}")  # noqa: S311 - reproducible synthetic data
    config = matching or MatchConfig()
    gateways = len(gateway_metros)
    load = [0] * gateways
    people: list[Person] = []
    decoys: list[tuple[Person, str, str]] = []
    registrations: list[Registration] = []
    counters = [0] * gateways

    def mrn(gateway: int) -> str:
        counters[gateway] += 1
        return f"M{gateway:03d}{counters[gateway]:05d}"

    def register(
        owner: Person, gateway: int, kind: str, variations: tuple[str, ...], docs: int, share: tuple[int, int]
    ) -> Registration:
        style = rng.randint(0, 3)
        demo = _registered(owner, variations, rng, style)
        registration = Registration(
            owner.label, gateway, mrn(gateway), demo, variations, docs, kind, owner.seed, share
        )
        registrations.append(registration)
        return registration

    for index in range(persons):
        label = f"P{index + 1:02d}"
        # Home metros follow the gateways' (metros with more gateways get more persons).
        person = _new_person(label, seed * 1000 + index + 1, rng, gateway_metros[index % gateways])
        people.append(person)
        count = min(gateways, rng.choices([k for k, _ in _PRESENCES], [w for _, w in _PRESENCES])[0])
        chosen = _choose_gateways(count, person.home.metro, gateway_metros, load, rng)
        for position, gateway in enumerate(chosen):
            variations: tuple[str, ...] = ()
            if position > 0:
                picks = rng.sample(_VARIATIONS, rng.randint(1, 2))
                variations = tuple(
                    v for v in picks
                    if (v != "maiden-name" or person.maiden) and (not v.startswith("middle") or person.middle)
                )  # fmt: skip
            docs = rng.randint(*documents)
            register(person, gateway, "person", variations, docs, (position, len(chosen)))
        kind = "twin" if index % 2 == 0 else "namesake"
        decoy = _decoy(person, kind, rng, f"D{index + 1:02d}")
        decoys.append((decoy, kind, label))
        target = chosen[0] if kind == "twin" else chosen[-1]
        register(decoy, target, kind, (), rng.randint(1, 2), (0, 1))
    for gateway in range(gateways):
        for n in range(background):
            metro = gateway_metros[gateway]
            filler = _new_person(
                f"B{gateway:03d}-{n + 1}", seed * 1000 + 900_000 + gateway * 10 + n, rng, metro
            )
            register(filler, gateway, "background", (), 0, (0, 1))

    by_gateway: dict[int, list[Registration]] = {g: [] for g in range(gateways)}
    for registration in registrations:
        by_gateway[registration.gateway].append(registration)
    askers = [(p.label, p, _queries(p)) for p in [*people, *(d for d, _, _ in decoys)]]
    checked = 0
    for gateway in range(gateways):
        wrong, count = _check_gateway(by_gateway[gateway], askers, config)
        checked += count
        if not wrong:
            continue
        # Fall back to the canonical registration (phone format only) for the owners that failed.
        fixed: list[Registration] = []
        for registration in by_gateway[gateway]:
            if registration.owner in wrong and registration.variations:
                owner = next(p for label, p, _ in askers if label == registration.owner)
                demo = _registered(owner, (), rng, 0)
                registration = replace(registration, demographics=demo, variations=())
            fixed.append(registration)
        wrong, count = _check_gateway(fixed, askers, config)
        checked += count
        if wrong and not any(r.owner in wrong and r.kind == "person" for r in fixed):
            # Only decoys or background patients are confusable here: leave them out of this gateway.
            fixed = [r for r in fixed if r.owner not in wrong]
            wrong, count = _check_gateway(fixed, askers, config)
            checked += count
        if wrong:
            raise RuntimeError(
                f"sandbox seed {seed}: gateway {gateway} cannot tell {', '.join(sorted(set(wrong)))} apart; "
                "choose another seed"
            )
        by_gateway[gateway] = fixed
    final = tuple(r for g in range(gateways) for r in by_gateway[g])
    placed = {r.owner for r in final}
    kept = tuple(d for d in decoys if d[0].label in placed)
    return Population(tuple(people), kept, final, checked, by_gateway)


def person_json(person: Person) -> dict[str, Any]:
    """A person as ``patients.json`` states them (without ``expected``)."""
    place = person.home
    return {
        "label": person.label,
        "given": " ".join(person.given_names),
        "family": person.family,
        "birth_date": person.birth_date.isoformat(),
        "gender": person.gender.value,
        "address": {
            "line": [place.street],
            "city": place.city,
            "state": place.state,
            "postalCode": place.town.postal_code,
            "country": "US",
        },
        "phone": person.phone,
    }
