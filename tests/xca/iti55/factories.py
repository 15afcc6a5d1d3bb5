"""Models for the ITI-55 tests (synthetic people; no real PHI) and the envelope validity check."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, date, datetime

from lxml import etree

from tests.xca.schemas import assert_valid
from xca.iti55 import (
    NPI_ROOT,
    SSN_ROOT,
    Address,
    AdministrativeGender,
    Demographics,
    Device,
    ErrorCode,
    Ii,
    Iti55Query,
    Iti55Request,
    Iti55Response,
    PatientMatch,
    PersonName,
    RequestedAttribute,
    Telecom,
    iti55_response_for,
)
from xca.soap import Action, Addressing, build_envelope

INITIATOR = Device(device_id="1.3.6.1.4.1.99999.1.1", home_community_id="1.3.6.1.4.1.99999.1")
RESPONDER = Device(
    device_id="1.3.6.1.4.1.88888.1.1",
    home_community_id="1.3.6.1.4.1.88888.1",
    telecom="https://responder.example/xcpd",
)
RESPONDER_AUTHORITY = "1.3.6.1.4.1.88888.2"

FULL = Demographics(
    names=(
        PersonName(given=("Avery", "Quinn"), family="Testperson", prefix=("Ms",), suffix=("III",), use="L"),
        PersonName(given=("Avery",), family="Maidenname", use="P"),
    ),
    gender=AdministrativeGender.FEMALE,
    birth_date=date(1971, 2, 28),
    addresses=(
        Address(("100 Example Way", "Unit 5"), "Springfield", "IL", "62701", "US", "H"),
        Address(("PO Box 9",), "Shelbyville", "IL", "62565", "US", "WP"),
    ),
    telecoms=(Telecom("tel:+1-555-555-0100", "HP"), Telecom("mailto:avery@example.org")),
    identifiers=(Ii(SSN_ROOT, "999001234"), Ii("1.3.6.1.4.1.99999.2", "MRN-77")),
    principal_care_provider_ids=(Ii(NPI_ROOT, "1234567893"),),
)
SSN_ONLY = Demographics(identifiers=(Ii(SSN_ROOT, "999001234"),))
MATCH_DEMOGRAPHICS = Demographics(
    names=FULL.names,
    gender=FULL.gender,
    birth_date=FULL.birth_date,
    addresses=FULL.addresses,
    telecoms=FULL.telecoms,
    identifiers=(Ii(SSN_ROOT, "999001234"),),
)
CREATED = datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC)


def request(demographics: Demographics = FULL, **changes: object) -> Iti55Request:
    query = Iti55Query(Ii("1.3.6.1.4.1.99999.3", "Q-1"), demographics, minimum_degree_match=None)
    base = Iti55Request(
        message_id=Ii("0b7f6d0e-6a44-4c2e-9d47-3f1b2d6c8a10"),
        creation_time=CREATED,
        sender=INITIATOR,
        receiver=RESPONDER,
        query=query,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def match(
    extension: str = "P-1", score: int = 97, demographics: Demographics = MATCH_DEMOGRAPHICS
) -> PatientMatch:
    return PatientMatch(Ii(RESPONDER_AUTHORITY, extension), RESPONDER.home_community_id, demographics, score)


def response(
    *,
    matches: tuple[PatientMatch, ...] = (),
    requested: tuple[RequestedAttribute, ...] = (),
    error: ErrorCode | None = None,
) -> Iti55Response:
    return iti55_response_for(
        request(),
        message_id=Ii("1.3.6.1.4.1.88888.4", "R-1"),
        creation_time=datetime(2024, 5, 1, 12, 30, 16),
        responder=RESPONDER,
        matches=matches,
        requested_attributes=requested,
        error=error,
        error_text="Responder could not complete the query" if error else None,
    )


def assert_valid_envelope(body: etree._Element, schema: str, action: Action) -> None:
    """The body wrapped in a SOAP 1.2 envelope validates as an envelope, and its payload as ``schema``."""
    addressing = (
        Addressing.request(action, to=RESPONDER.telecom or "")
        if action == Action.ITI55_REQUEST
        else Addressing.response(action, relates_to="urn:uuid:0b7f6d0e-6a44-4c2e-9d47-3f1b2d6c8a10")
    )
    assert_valid(build_envelope(copy.deepcopy(body), addressing), schema)
