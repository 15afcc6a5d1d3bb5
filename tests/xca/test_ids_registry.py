"""Identifiers (OID, CX) and ebRS registry status/errors: strict building, tolerant reading."""

from __future__ import annotations

import pytest

from xca.errors import InvalidValueError
from xca.ids import Cx, format_cx, normalize_oid, oid_urn, parse_cx, require_oid
from xca.registry import (
    ErrorSeverity,
    RegistryError,
    ResponseStatus,
    XdsErrorCode,
    build_registry_error_list,
    parse_registry_error_list,
    parse_status,
)


def test_cx_round_trip_and_strict_build() -> None:
    cx = Cx(id="PT-0042", root="1.2.840.114350.1.13.0.1.7")
    assert format_cx(cx) == "PT-0042^^^&1.2.840.114350.1.13.0.1.7&ISO"
    assert parse_cx(format_cx(cx)) == cx
    with pytest.raises(InvalidValueError):
        format_cx(Cx(id="a^b", root="1.2.3"))
    with pytest.raises(InvalidValueError):
        format_cx(Cx(id="x", root="not-an-oid"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("'PT1^^^&1.2.3&ISO'", Cx("PT1", "1.2.3")),
        ("PT1^^^&urn:oid:1.2.3&ISO", Cx("PT1", "1.2.3")),
        ("PT1^^^&1.2.3", Cx("PT1", "1.2.3")),
    ],
)
def test_cx_tolerant_read(raw: str, expected: Cx) -> None:
    assert parse_cx(raw) == expected


@pytest.mark.parametrize("raw", ["PT1", "^^^&1.2.3&ISO", "PT1^^^&&ISO"])
def test_cx_unusable_values(raw: str) -> None:
    with pytest.raises(InvalidValueError):
        parse_cx(raw)


def test_oid_forms() -> None:
    assert oid_urn("1.2.3") == "urn:oid:1.2.3"
    assert normalize_oid("urn:oid:1.3.6.1.4.1.21367.13.20.9621}").value == "1.3.6.1.4.1.21367.13.20.9621"
    assert normalize_oid("urn:oid:1.3.6.1.4.1.21367.13.20.9621}").repaired is True
    assert normalize_oid("1.2.3").repaired is False
    with pytest.raises(InvalidValueError):
        require_oid("1.02.3", what="homeCommunityId")
    assert normalize_oid(" '1.2.3'] ").value == "1.2.3"
    with pytest.raises(InvalidValueError):
        normalize_oid("urn:uuid:abc")
    with pytest.raises(InvalidValueError):
        normalize_oid("1.2.3x4")
    with pytest.raises(InvalidValueError):
        normalize_oid("1.2..3")


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success", ResponseStatus.SUCCESS),
        ("urn:ihe:iti:2007:ResponseStatusType:PartialSuccess", ResponseStatus.PARTIAL_SUCCESS),
        ("urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:PartialSuccess", ResponseStatus.PARTIAL_SUCCESS),
        ("urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure", ResponseStatus.FAILURE),
    ],
)
def test_status_read_accepts_both_partial_success_prefixes(raw: str, status: ResponseStatus) -> None:
    assert parse_status(raw) is status


def test_status_unknown_is_an_error() -> None:
    with pytest.raises(InvalidValueError):
        parse_status("urn:x:Maybe")
    with pytest.raises(InvalidValueError):
        parse_status(None)


def test_registry_error_list_round_trip_and_highest_severity() -> None:
    errors = (
        RegistryError("XDSUnknownPatientId", "patient not known here", ErrorSeverity.WARNING, "1.2.3"),
        RegistryError("ACMEVendorSpecific", "odd", ErrorSeverity.ERROR),
    )
    element = build_registry_error_list(errors)
    assert element is not None
    assert element.get("highestSeverity") == ErrorSeverity.ERROR.value
    parsed = parse_registry_error_list(element)
    assert parsed == errors
    assert parsed[0].known_code is XdsErrorCode.UNKNOWN_PATIENT_ID
    assert parsed[1].known_code is None
    assert build_registry_error_list([]) is None
