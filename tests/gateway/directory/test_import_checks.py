"""What ``directory import`` refuses (not a directory, a file it cannot parse, saying where) and what it
reports without failing the whole import (endpoint addresses that cannot be called)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from gateway.directory import DirectoryFormatError, parse_directory
from tests.env import isolate_settings

GOOD, BAD_URL, PLAIN_HTTP = "1.3.6.1.4.1.99999.71", "1.3.6.1.4.1.99999.72", "1.3.6.1.4.1.99999.73"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("HIEGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'directory.db'}")


def _organization(local_id: str, hcid: str, name: str, address: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization", "id": local_id, "name": name,
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{hcid}"}],
        "contained": [{"resourceType": "Endpoint", "id": "xcpd", "status": "active",
                       "connectionType": {"code": "ihe-xcpd"}, "address": address}],
        "endpoint": [{"reference": "#xcpd"}],
    }  # fmt: skip


def _bundle(*organizations: dict[str, Any]) -> bytes:
    entries = [{"resource": org} for org in organizations]
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"[1, 2, 3]", "not a FHIR Bundle"),
        (b"[]", "not a FHIR Bundle"),
        (b'[{"name": "x"}]', "not a FHIR Bundle"),
        (b'{"resourceType": "Bundle", "type": "collection", "entry": []}', "no Organization"),
        (b'{"resourceType": "Patient"}', "not a FHIR Bundle"),
    ],
)
def test_json_that_is_not_a_directory_is_refused(data: bytes, says: str) -> None:
    with pytest.raises(DirectoryFormatError, match=says) as info:
        parse_directory(data, source="dir.json")
    assert info.value.code == "HG-6101"
    assert info.value.message.startswith("dir.json: ")


def test_malformed_json_names_the_file_and_the_position() -> None:
    with pytest.raises(DirectoryFormatError) as info:
        parse_directory(b'{\n  "resourceType": "Bundle",\n  oops}', source="dir.json")
    assert info.value.message.startswith("dir.json: not valid JSON at line 3, column 3: ")


def test_malformed_xml_names_the_file_and_the_line() -> None:
    with pytest.raises(DirectoryFormatError) as info:
        parse_directory(b'<Bundle xmlns="http://hl7.org/fhir">\n<entry>\n</Bundle>', source="dir.xml")
    assert info.value.message.startswith("dir.xml: not valid XML at line 3, column 10: ")
    assert "tag mismatch" in info.value.message


def test_xml_is_still_read_by_the_hardened_parser() -> None:
    with pytest.raises(DirectoryFormatError, match=r"dir\.xml: refused as XML: .*\(HG-2005\)"):
        parse_directory(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", source="dir.xml")


def test_endpoint_addresses_that_cannot_be_called_are_reported_and_skipped() -> None:
    parsed = parse_directory(
        _bundle(
            _organization("good", GOOD, "Good Clinic", "https://good.example/xcpd"),
            _organization("bad", BAD_URL, "Bad Clinic", "not a url"),
            _organization("plain", PLAIN_HTTP, "Plain Clinic", "http://plain.example/xcpd"),
        ),
        source="dir.json",
    )
    by_id = {c.home_community_id: c for c in parsed.communities}
    assert set(by_id) == {GOOD, BAD_URL, PLAIN_HTTP}  # the organizations are kept, their endpoints are not
    assert by_id[GOOD].endpoints.iti55 == "https://good.example/xcpd"
    assert not by_id[BAD_URL].endpoints.any
    assert not by_id[PLAIN_HTTP].endpoints.any
    assert parsed.warnings == (
        f"Organization 'bad' Bad Clinic (homeCommunityId {BAD_URL}): Endpoint 'xcpd' (XCPD ITI-55) address "
        "'not a url' is not an absolute https:// URL; endpoint ignored",
        f"Organization 'plain' Plain Clinic (homeCommunityId {PLAIN_HTTP}): Endpoint 'xcpd' (XCPD ITI-55) "
        "address 'http://plain.example/xcpd' is plain http (no TLS, patient data would travel unencrypted); "
        "endpoint ignored",
    )


@pytest.mark.parametrize("address", ["https://", "https:///xcpd", "https://exa mple/x", "https://h:port/x"])
def test_https_urls_without_a_usable_host_are_reported(address: str) -> None:
    parsed = parse_directory(_bundle(_organization("o", GOOD, "Clinic", address)))
    assert not parsed.communities[0].endpoints.any
    assert len(parsed.warnings) == 1


def test_import_prints_a_warning_per_bad_endpoint_and_the_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dir.json"
    path.write_bytes(
        _bundle(
            _organization("good", GOOD, "Good Clinic", "https://good.example/xcpd"),
            _organization("bad", BAD_URL, "Bad Clinic", "not a url"),
        )
    )
    assert main(["directory", "import", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        f"{path}: warning: Organization 'bad' Bad Clinic (homeCommunityId {BAD_URL}): Endpoint 'xcpd' "
        "(XCPD ITI-55) address 'not a url' is not an absolute https:// URL; endpoint ignored"
    )
    assert out[1] == (
        f"{path}: 2 communities (2 added, 0 updated, 0 unchanged, 0 removed); 0 skipped; "
        "1 endpoint ignored (see warnings)"
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"[1,2,3]", "not a FHIR Bundle"),
        (b'{\n "resourceType": "Bundle",\n oops}', "not valid JSON at line 3, column 2"),
        (b'<Bundle xmlns="http://hl7.org/fhir">\n<entry>\n</Bundle>', "not valid XML at line 3"),
    ],
)
def test_import_of_a_bad_file_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, says: str
) -> None:
    path = tmp_path / "dir.json"
    path.write_bytes(content)
    assert main(["directory", "import", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"hiegate: HG-6101: {path}: {says}"), err
    assert err.count("\n") == 1
