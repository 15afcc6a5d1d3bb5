"""How a patient's demographics (:class:`xca.iti55.Demographics`) are stored in ``patient.demographics``.

One codec for every writer and reader of that column: the clinic's registrations, the pull's own patients,
the persisted pull requests and the FHIR API. ``lines`` is read as well as ``street_lines``: early pull rows
used it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from xca.iti55 import Address, AdministrativeGender, Demographics, Ii, PartialDate, PersonName, Telecom

__all__ = ["demographics_from_json", "demographics_to_json"]


def demographics_to_json(demo: Demographics) -> dict[str, Any]:
    return {
        "names": [
            {"given": list(n.given), "family": n.family, "prefix": list(n.prefix), "suffix": list(n.suffix),
             "use": n.use, "text": n.text}
            for n in demo.names
        ],
        "gender": demo.gender.value if demo.gender else None,
        "birth_date": demo.birth_date.isoformat() if demo.birth_date else None,
        "birth_partial": [demo.birth_date_partial.year, demo.birth_date_partial.month]
        if demo.birth_date_partial
        else None,
        "addresses": [
            {"street_lines": list(a.street_lines), "city": a.city, "state": a.state,
             "postal_code": a.postal_code, "country": a.country, "use": a.use}
            for a in demo.addresses
        ],
        "telecoms": [{"value": t.value, "use": t.use} for t in demo.telecoms],
        "identifiers": [{"root": i.root, "extension": i.extension} for i in demo.identifiers],
    }  # fmt: skip


def demographics_from_json(data: Mapping[str, Any]) -> Demographics:
    partial = data.get("birth_partial")
    return Demographics(
        names=tuple(
            PersonName(
                given=tuple(n.get("given") or ()),
                family=n.get("family"),
                prefix=tuple(n.get("prefix") or ()),
                suffix=tuple(n.get("suffix") or ()),
                use=n.get("use"),
                text=n.get("text"),
            )
            for n in data.get("names") or ()
        ),
        gender=AdministrativeGender(data["gender"]) if data.get("gender") else None,
        birth_date=dt.date.fromisoformat(data["birth_date"]) if data.get("birth_date") else None,
        birth_date_partial=PartialDate(partial[0], partial[1]) if partial else None,
        addresses=tuple(
            Address(
                street_lines=tuple(a.get("street_lines") or a.get("lines") or ()),
                city=a.get("city"),
                state=a.get("state"),
                postal_code=a.get("postal_code"),
                country=a.get("country"),
                use=a.get("use"),
            )
            for a in data.get("addresses") or ()
        ),
        telecoms=tuple(Telecom(t["value"], t.get("use")) for t in data.get("telecoms") or ()),
        identifiers=tuple(Ii(i["root"], i.get("extension")) for i in data.get("identifiers") or ()),
    )
