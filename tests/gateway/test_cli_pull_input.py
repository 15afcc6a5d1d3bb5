"""``hiegate pull`` refuses what cannot be right before anything is sent, and says which file it missed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.cli import _parser, main
from gateway.pull_input import parse_address
from tests.env import isolate_settings
from xca.iti55 import Telecom

PATIENT = ["pull", "--given", "Ada", "--family", "Lovelace", "--gender", "F", "--no-progress"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("HIEGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'pull.db'}")


@pytest.mark.parametrize("days", [1, 365 * 1000])
def test_a_birth_date_in_the_future_is_a_usage_error(capsys: pytest.CaptureFixture[str], days: int) -> None:
    future = dt.date.today() + dt.timedelta(days=days)
    with pytest.raises(SystemExit) as info:
        main([*PATIENT, "--birth-date", future.isoformat()])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --birth-date: the birth date is in the future" in err
    assert "Traceback" not in err


def test_missing_certificate_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A past birth date passes; the pull then stops at the first certificate it cannot find, naming it.
    (tmp_path / "pull.db").touch()  # an (empty) database there: the certificates are what is missing
    assert main([*PATIENT, "--birth-date", "1970-01-01"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hiegate: HG-4001: The certificate file "), err
    assert f"{tmp_path / 'var' / 'certs'}" in err
    assert err.rstrip().endswith(
        "does not exist: run `hiegate certs init` for a development PKI, or set certs_dir."
    )
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "acting", [["--resume", "6f1c2b9e-4d3a-4e8f-9b7a-1c2d3e4f5a60"], ["--cancel", "x"], ["--list"]]
)
def test_patient_options_beside_an_existing_job_are_refused_not_ignored(
    acting: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # A resumed job asks what it asked when created: patient, gateways and dates given now are not used.
    assert main([*PATIENT, "--birth-date", "1970-01-01", "--state", "WI", *acting]) == 2
    err = capsys.readouterr().err
    flag = acting[0]
    assert err == (
        f"hiegate: HG-1001: {flag} acts on existing jobs: --given, --family, --birth-date, --gender, --state "
        "would be ignored (leave them out)\n"
    )


@pytest.mark.parametrize("to_date", ["2000-01-01", "2024-01-01"])
def test_a_date_range_that_holds_nothing_is_refused(to_date: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--to-date is exclusive: a range ending on or before its start would ask every gateway for nothing and
    report "0 found", as if the patient had no documents."""
    status = main([*PATIENT, "--birth-date", "1970-01-01", "--from-date", "2024-01-01", "--to-date", to_date])
    assert status == 2
    assert capsys.readouterr().err == (
        f"hiegate: HG-1001: pull: --from-date 2024-01-01 is not before --to-date {to_date} "
        "(documents created on or after the first and before the second: the range would hold nothing)\n"
    )


@pytest.mark.parametrize(
    "acting",
    [
        [*PATIENT, "--birth-date", "1970-01-01"],
        ["pull", "--list"],
        ["pull", "--resume", "6f1c2b9e-4d3a-4e8f-9b7a-1c2d3e4f5a60"],
    ],
)
def test_a_mistyped_database_path_is_said_not_made(
    acting: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pull reads the directory (and --list the jobs) an earlier command stored: a path that does not exist
    is a mistake to name, not a new empty database (with its folder) reported as "the directory is empty"."""
    missing = tmp_path / "typo" / "pull.db"
    monkeypatch.setenv("HIEGATE_DATABASE_URL", f"sqlite:///{missing}")
    assert main(acting) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hiegate: HG-1002: database file {missing} does not exist: no "), err
    assert err.count("\n") == 1
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("phone", ["abc", "555", "+1-608-555-0142 ext", "1" * 16, ""])
def test_a_phone_that_is_not_a_number_is_refused(phone: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*PATIENT, "--birth-date", "1970-01-01", "--phone", phone])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --phone: expected a phone number such as +1-608-555-0142" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("address", ["no state here", "12 Orchard Lane, WI 53703", "Madison, WI", ""])
def test_an_address_without_street_city_and_state_is_refused(
    address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An address that cannot be read would be sent as a street line only and weigh in the match as another
    address: refused before anything is stored or sent, without repeating it (PHI)."""
    (tmp_path / "pull.db").touch()
    assert main([*PATIENT, "--birth-date", "1970-01-01", "--address", address]) == 2
    err = capsys.readouterr().err
    assert err == (
        'hiegate: HG-1001: pull: --address expected "street, city, ST" with an optional ZIP code after the '
        'state (e.g. "12 Orchard Lane, Madison, WI 53703")\n'
    )
    assert (tmp_path / "pull.db").stat().st_size == 0  # nothing stored: no job, not even a schema


@pytest.mark.parametrize(
    ("address", "read"),
    [
        ("12 Orchard Lane, Madison, WI 53703", (("12 Orchard Lane",), "Madison", "WI", "53703")),
        ("12 Main St Apt 3, Madison, wi", (("12 Main St Apt 3",), "Madison", "WI", None)),
        (
            "12 Main St, Apt 3, Madison, WI 53703-1234",
            (("12 Main St", "Apt 3"), "Madison", "WI", "53703-1234"),
        ),
        ("12 Main St, Madison WI 53703", (("12 Main St",), "Madison", "WI", "53703")),
        ("12 Main St, Fond du Lac WI", (("12 Main St",), "Fond du Lac", "WI", None)),
        ("12 Main St, Madison, WI, 53703", (("12 Main St",), "Madison", "WI", "53703")),
        ("PO Box 12, Madison, WI 53703, USA", (("PO Box 12",), "Madison", "WI", "53703")),
        ("12 Main St, Madison, XX 53703", (("12 Main St", "Madison"), "XX 53703", None, None)),  # no state
        ("12 Main St, Madison, Wisconsin", (("12 Main St", "Madison"), "Wisconsin", None, None)),
    ],
)
def test_addresses_are_read_as_clinics_write_them(
    address: str, read: tuple[tuple[str, ...], str | None, str | None, str | None]
) -> None:
    assert parse_address(address) == read


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("(608) 555-0142", "(608)555-0142"),
        ("+1 608 555 0142", "+16085550142"),
        ("608.555.0142", "608.555.0142"),
    ],
)
def test_a_phone_is_taken_as_people_type_it_and_sent_without_spaces(typed: str, sent: str) -> None:
    args = _parser().parse_args([*PATIENT, "--birth-date", "1970-01-01", "--phone", typed])
    assert args.phone == sent
    Telecom(f"tel:{args.phone}", "HP")  # what the ITI-55 request carries: a URI without spaces


def test_state_takes_several_values_after_the_flag_or_the_flag_again() -> None:
    for states in (["--state", "wi", "MN"], ["--state", "wi", "--state", "MN"]):
        assert _parser().parse_args([*PATIENT, *states]).state == ["wi", "MN"]


@pytest.mark.parametrize("day", ["1970-02-30", "30/01/1970", "1970-13-01"])
def test_a_birth_date_that_does_not_exist_is_refused_without_repeating_it(
    day: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*PATIENT, "--birth-date", day])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --birth-date: expected a date YYYY-MM-DD that exists" in err
    assert day not in err


def test_an_empty_purpose_is_refused_not_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*PATIENT, "--birth-date", "1970-01-01", "--purpose", ""]) == 2
    assert capsys.readouterr().err == "hiegate: HG-1001: pull: unknown purpose of use ''\n"
