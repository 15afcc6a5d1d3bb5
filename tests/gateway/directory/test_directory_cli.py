"""``hiegate directory import|show`` from the command line: files that cannot be read are HG-1002 naming the
path (with a hint when the default file, written by the sandbox, is missing); ``show`` takes a
homeCommunityId bare or in its ``urn:oid:`` form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main
from tests.env import isolate_settings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "directory"
PARENT = "1.3.6.1.4.1.99999.10"


@pytest.fixture(autouse=True)
def _settings(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("HIEGATE_DATABASE_URL", database_url)


def _one_line(err: str) -> str:
    assert err.startswith("hiegate: HG-1002: "), err
    assert err.count("\n") == 1, err
    return err


def test_import_without_a_file_or_a_sandbox_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["directory", "import"]) == 2
    assert _one_line(capsys.readouterr().err) == (
        "hiegate: HG-1002: directory file var/sandbox/directory.json: no such file or folder; "
        "start `hiegate sandbox` or name a directory file\n"
    )


def test_import_of_a_missing_named_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["directory", "import", str(FIXTURES / "carequality.json"), "nope.json"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err == "hiegate: HG-1002: directory file nope.json: no such file or folder\n"
    # Every file is read before any is imported: nothing was imported from the first one.
    assert main(["directory", "list", "--all"]) == 0
    assert capsys.readouterr().out.endswith("0 communities\n")


@pytest.mark.parametrize("given", [PARENT, f"urn:oid:{PARENT}", f"URN:OID:{PARENT}"])
def test_show_takes_the_bare_and_the_urn_form(capsys: pytest.CaptureFixture[str], given: str) -> None:
    assert main(["directory", "import", str(FIXTURES / "carequality.json")]) == 0
    capsys.readouterr()
    assert main(["directory", "show", given]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["home_community_id"] == PARENT


def test_show_of_an_unlisted_community(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["directory", "show", "urn:oid:1.2.3"]) == 1
    assert capsys.readouterr().err.startswith("hiegate: HG-6102: the directory does not list")
