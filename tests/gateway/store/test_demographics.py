"""Every writer and reader of ``patient.demographics`` shares one storage shape."""

from __future__ import annotations

import datetime as dt

from gateway.initiating.codec import request_from_json, request_to_json
from gateway.initiating.models import PullRequest
from gateway.store.demographics import demographics_from_json, demographics_to_json
from tests.gateway.initiating.conftest import user
from xca.iti55 import Address, AdministrativeGender, Demographics, Ii, PartialDate, PersonName, Telecom

FULL = Demographics(
    names=(PersonName(given=("Avery", "Q"), family="Testperson", prefix=("Dr",), suffix=("III",), use="L"),),
    gender=AdministrativeGender.FEMALE,
    birth_date=dt.date(1971, 2, 28),
    addresses=(Address(("100 Example Way", "Unit 5"), "Springfield", "IL", "62701", "US", "H"),),
    telecoms=(Telecom("tel:+1-555-555-0100", "HP"),),
    identifiers=(Ii("2.16.840.1.113883.4.1", "999001234"),),
)


def test_round_trip_keeps_every_field() -> None:
    assert demographics_from_json(demographics_to_json(FULL)) == FULL
    partial = Demographics(names=FULL.names, birth_date_partial=PartialDate(1971, 2))
    assert demographics_from_json(demographics_to_json(partial)) == partial


def test_a_persisted_pull_request_stores_demographics_in_the_same_shape() -> None:
    stored = request_to_json(PullRequest(demographics=FULL, user=user()))
    assert stored["demographics"] == demographics_to_json(FULL)
    assert request_from_json(stored).demographics == FULL


def test_rows_written_with_the_earlier_lines_key_still_read() -> None:
    legacy = demographics_to_json(FULL)
    legacy["addresses"][0]["lines"] = legacy["addresses"][0].pop("street_lines")
    assert demographics_from_json(legacy).addresses == FULL.addresses
