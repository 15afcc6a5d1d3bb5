"""``hiegate pull`` checks what it can before asking anyone: an ``--out`` it could not write, a selection that
matches no community. Either is an error naming what the user typed, with no job created, no gateway asked
and no file left behind. ``--to`` takes a homeCommunityId with or without ``urn:oid:``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.cli import main
from gateway.pull_cli import _write_bundle
from gateway.store import Database, PullJob, PullJobGateway
from tests.gateway.initiating.conftest import (
    BROKEN,
    HEALTHY,
    Network,
    cli_settings,
    import_directory,
    patient_args,
)


@pytest.fixture
def pull(network: Network, database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import_directory(network, database)
    cli_settings(monkeypatch, tmp_path, network, database)
    return ["pull", *patient_args(network), "--no-progress"]


def _nothing_happened(network: Network, database: Database, tmp_path: Path) -> None:
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(PullJob)) == 0
    assert all(not node.hits for node in network.nodes.values())
    assert not list(tmp_path.rglob("*.partial"))


def test_an_out_that_is_a_folder_stops_before_anyone_is_asked(
    pull: list[str], network: Network, database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    assert main([*pull, "--out", str(folder)]) == 2
    assert capsys.readouterr().err == f"hiegate: HG-1002: {folder}: is a folder, a file is expected\n"
    _nothing_happened(network, database, tmp_path)


def test_an_out_under_a_file_stops_before_anyone_is_asked(
    pull: list[str], network: Network, database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    out = blocker / "record.json"
    assert main([*pull, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hiegate: HG-1002: {out}: "), err
    _nothing_happened(network, database, tmp_path)


def test_a_failed_write_leaves_no_partial_record(tmp_path: Path) -> None:
    # The path turned into a folder after the check (or the disk filled): the record is not left hidden.
    target = tmp_path / "record.json"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(OSError) as failed:
        _write_bundle(target, {"resourceType": "Bundle", "entry": []})
    assert failed.value.filename == str(target)
    assert not list(tmp_path.glob(".*.partial"))


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--state", "ZZ"], "no community in the directory matches --state ZZ (other state)"),
        (
            ["--near", "0,0", "--radius", "5"],
            "no community in the directory matches --near 0.0,0.0 --radius 5",
        ),
    ],
)
def test_a_selection_of_nobody_is_an_error_not_an_empty_pull(
    pull: list[str],
    network: Network,
    database: Database,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    said: str,
) -> None:
    assert main([*pull, *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hiegate: HG-1001: {said}"), err
    _nothing_happened(network, database, tmp_path)


def test_to_takes_the_urn_oid_form(
    pull: list[str], network: Network, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*pull, "--to", f"urn:oid:{HEALTHY}"]) == 0
    with database.session() as session:
        asked = session.scalars(select(PullJobGateway.home_community_id)).all()
    assert asked == [HEALTHY]


def test_to_and_state_take_several_values_after_the_flag(
    pull: list[str], network: Network, database: Database
) -> None:
    assert main([*pull, "--to", HEALTHY, f"urn:oid:{BROKEN}"]) == 0
    with database.session() as session:
        asked = set(session.scalars(select(PullJobGateway.home_community_id)).all())
    assert asked == {HEALTHY, BROKEN}


def test_a_phone_typed_with_spaces_reaches_the_gateways(
    pull: list[str], network: Network, database: Database
) -> None:
    # A tel: URI holds no spaces: "(608) 555-0142" is sent as tel:(608)555-0142, not refused by every
    # gateway's request builder.
    assert main([*pull, "--to", HEALTHY, "--phone", "(608) 555-0142"]) == 0
    with database.session() as session:
        (row,) = session.scalars(select(PullJobGateway)).all()
    assert (row.home_community_id, row.error_code) == (HEALTHY, None)


def test_a_pull_every_gateway_failed_exits_with_3(
    pull: list[str], network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    # BROKEN answers every request with HTTP 500: the job runs to its end with nothing back, which a script
    # must be able to tell from a pull (0) and from a job that could not run (1).
    assert main([*pull, "--to", BROKEN]) == 3
    out = " ".join(capsys.readouterr().out.split())
    assert "nothing came back: every gateway asked failed (their reasons are in the table)" in out
    assert main([*pull, "--to", BROKEN, "--to", HEALTHY]) == 0  # one answered: a pull
