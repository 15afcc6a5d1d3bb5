"""``hiegate pull`` refuses what cannot be right before anything is sent, and says which file it missed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.cli import main
from tests.env import isolate_settings

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
    assert main([*PATIENT, "--birth-date", "1970-01-01", "--address", address]) == 2
    err = capsys.readouterr().err
    assert err == (
        'hiegate: HG-1001: pull: --address expected "street, city, ST" with an optional ZIP code after the '
        'state (e.g. "12 Orchard Lane, Madison, WI 53703")\n'
    )
    assert not (tmp_path / "pull.db").exists()


def test_an_empty_purpose_is_refused_not_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*PATIENT, "--birth-date", "1970-01-01", "--purpose", ""]) == 2
    assert capsys.readouterr().err == "hiegate: HG-1001: pull: unknown purpose of use ''\n"
