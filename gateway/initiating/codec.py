"""The pull request as stored with its job (``pull_job.request``), so a resumed job asks exactly what the
first worker asked, on behalf of the same user, and the local patient key that finds the patient again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import unicodedata
import uuid
from typing import Any

from gateway.directory import GeoPoint, SelectionSpec, SelectionStrategy
from gateway.initiating.models import PullRequest
from gateway.security import NhinPurpose, Organization, PurposeOfUse, RequestingUser, Role, TefcaPurpose
from gateway.store.demographics import demographics_from_json, demographics_to_json
from xca.iti55 import Demographics, PersonName

__all__ = [
    "parse_purpose",
    "patient_key",
    "request_from_json",
    "request_to_json",
]


def parse_purpose(value: str) -> PurposeOfUse:
    """``TREATMENT`` (nhin-purpose) or a TEFCA code such as ``T-TREAT``; raises ``ValueError``."""
    text = value.strip()
    for enum in (NhinPurpose, TefcaPurpose):
        for member in enum:
            if text.upper() in (member.value.upper(), member.name):
                return member
    raise ValueError(f"unknown purpose of use {value!r}")


def _fold(text: str | None) -> str:
    plain = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def patient_key(demo: Demographics) -> str:
    """A stable key of the asked identity (first name, family name, birth date, gender), folded: the same
    person asked twice finds the same local patient, links and documents."""
    name = demo.names[0] if demo.names else PersonName()
    parts = [
        _fold(name.given[0] if name.given else ""),
        _fold(name.family),
        demo.birth_date.isoformat() if demo.birth_date else "",
        demo.gender.value if demo.gender else "",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def _user_to_json(user: RequestingUser) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "name": user.name,
        "role": user.role.code,
        "organization": user.organization.name,
        "organization_id": user.organization.oid,
        "purpose_of_use": user.purpose_of_use.value,
        "npi": user.npi,
        "grantor": user.grantor,
    }


def _user_from_json(data: dict[str, Any]) -> RequestingUser:
    return RequestingUser(
        user_id=data["user_id"],
        name=data["name"],
        role=Role(data["role"]),
        organization=Organization(data["organization"], data["organization_id"]),
        purpose_of_use=parse_purpose(data["purpose_of_use"]),
        npi=data.get("npi"),
        grantor=data.get("grantor"),
    )


def request_to_json(request: PullRequest) -> dict[str, Any]:
    spec = request.selection
    point = request.patient_point
    return {
        "demographics": demographics_to_json(request.demographics),
        "user": _user_to_json(request.user),
        "selection": {
            "strategy": spec.strategy.value,
            "states": list(spec.states),
            "radius_km": spec.radius_km,
            "communities": list(spec.communities),
            "cap": spec.cap,
        },
        "patient_point": [point.latitude, point.longitude] if point else None,
        "date_from": request.date_from.isoformat() if request.date_from else None,
        "date_to": request.date_to.isoformat() if request.date_to else None,
        "patient_id": str(request.patient_id) if request.patient_id else None,
    }


def request_from_json(data: dict[str, Any]) -> PullRequest:
    selection = data["selection"]
    point = data.get("patient_point")
    return PullRequest(
        demographics=demographics_from_json(data["demographics"]),
        user=_user_from_json(data["user"]),
        selection=SelectionSpec(
            strategy=SelectionStrategy(selection["strategy"]),
            states=tuple(selection.get("states") or ()),
            radius_km=selection.get("radius_km"),
            communities=tuple(selection.get("communities") or ()),
            cap=selection["cap"],
        ),
        patient_point=GeoPoint(point[0], point[1]) if point else None,
        date_from=dt.date.fromisoformat(data["date_from"]) if data.get("date_from") else None,
        date_to=dt.date.fromisoformat(data["date_to"]) if data.get("date_to") else None,
        patient_id=uuid.UUID(data["patient_id"]) if data.get("patient_id") else None,
    )
