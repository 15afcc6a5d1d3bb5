"""``hiegate documents add|list --patient`` take the patient id as ``patients add`` prints it (the whole CX
``ID^^^&OID&ISO``) as well as the bare ID; a CX of another assigning authority says which one is expected."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.cli import main
from tests.env import isolate_settings
from tests.fhir_facade.ccda.helpers import fixture_bytes
from tests.gateway.store import conftest as _store

postgres_server_url = _store.postgres_server_url
database_url = _store.database_url

HCID = "2.25.4242"
AUTHORITY = f"{HCID}.2"


@pytest.fixture
def printed_id(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    """The id ``patients add`` printed for a patient registered from a C-CDA (also written to ccd.xml)."""
    isolate_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("HIEGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("HIEGATE_HOME_COMMUNITY_ID", HCID)
    (tmp_path / "ccd.xml").write_bytes(fixture_bytes("synthetic_ccd.xml"))
    assert main(["patients", "add", "--from-ccda", "ccd.xml"]) == 0
    found = re.fullmatch(r"patient (\S+) registered\n", capsys.readouterr().out)
    assert found is not None
    return found.group(1)


def test_documents_add_and_list_take_the_printed_id(
    printed_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert printed_id.endswith(f"^^^&{AUTHORITY}&ISO")
    assert main(["documents", "add", "--patient", printed_id, "ccd.xml"]) == 0
    assert " added: " in capsys.readouterr().out
    assert main(["documents", "list", "--patient", printed_id]) == 0
    assert "1 document(s)" in capsys.readouterr().out


def test_the_bare_id_still_works(printed_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    bare = printed_id.split("^")[0]
    assert main(["documents", "add", "--patient", bare, "ccd.xml"]) == 0
    assert main(["documents", "list", "--patient", bare]) == 0
    assert "1 document(s)" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["documents", "add", "ccd.xml"], ["documents", "list"]])
def test_another_authority_names_the_expected_one(
    printed_id: str, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    other = printed_id.replace(AUTHORITY, "1.2.3")
    assert main([*command, "--patient", other]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hiegate: HG-1001: --patient: assigning authority 1.2.3 is not this gateway's")
    assert f"ID^^^&{AUTHORITY}&ISO" in err
    assert err.count("\n") == 1


def test_a_malformed_cx_is_a_usage_error(printed_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["documents", "list", "--patient", "X^^^"]) == 2
    assert capsys.readouterr().err.startswith("hiegate: HG-1001: --patient: patient id has no assigning")


def test_a_document_about_another_person_is_refused(
    printed_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Another person's C-CDA filed under this patient would be served to the network as theirs.
    (tmp_path / "other.xml").write_bytes(fixture_bytes("synthetic_clinical.xml"))
    assert main(["documents", "add", "--patient", printed_id, "other.xml"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hiegate: HG-2103: other.xml: its recordTarget is not this patient ("), err
    assert "birth-date" in err
    assert "Placeholder" not in err  # what differs is named, not the values
    assert "1970" not in err
    assert err.count("\n") == 1
    assert main(["documents", "list", "--patient", printed_id]) == 0
    assert "0 document(s)" in capsys.readouterr().out


def test_other_name_files_it_when_the_operator_says_it_is_the_same_person(
    printed_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "other.xml").write_bytes(fixture_bytes("synthetic_clinical.xml"))
    assert main(["documents", "add", "--patient", printed_id, "--other-name", "other.xml"]) == 0
    assert " added: " in capsys.readouterr().out
