"""``hiegate clients add`` refuses a requesting user without a name or a role (exit 2, nothing stored), and
``hiegate clients remove`` frees the id of a client that has no pulls or exports on record."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from fhir_facade.api.auth.clients import ClientRegistration, register_client
from gateway.cli import main
from gateway.store import Database
from gateway.store.api import ApiClient
from gateway.store.api_jobs import ApiExport
from gateway.store.documents import ensure_tenant

NPI = "1234567893"
PHYSICIAN = "112247003"


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'var' / 'cli.db'}"
    monkeypatch.setenv("HIEGATE_DATABASE_URL", url)
    return url


def _clients(url: str) -> list[str]:
    db = Database(url)
    try:
        db.upgrade()
        with db.session() as session:
            return list(session.scalars(select(ApiClient.client_id)))
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("user", "missing"),
    [
        (["--user-name", "Dr X", "--user-npi", NPI], "--user-role"),
        (["--user-role", PHYSICIAN], "--user-name"),
        (["--user-npi", NPI], "--user-name and --user-role"),
        (["--user-id", "dr-x"], "--user-name and --user-role"),
    ],
)
def test_add_refuses_an_incomplete_requesting_user(
    db_url: str, capsys: pytest.CaptureFixture[str], user: list[str], missing: str
) -> None:
    assert main(["clients", "add", "x", "--scopes", "system/Patient.rs", "--api-key", *user]) == 2
    captured = capsys.readouterr()
    assert f"the requesting user needs a name and a role: add {missing}" in captured.err
    assert "hgk_" not in captured.out
    assert _clients(db_url) == []


def test_register_client_refuses_an_incomplete_requesting_user(db_url: str) -> None:
    db = Database(db_url)
    db.upgrade()
    try:
        with db.session() as session, session.begin():
            tenant = ensure_tenant(session, "default", "Clinic")
            registration = ClientRegistration("x", "x", "system/Patient.rs", user_name="Dr X", user_npi=NPI)
            with pytest.raises(ValueError, match="needs a name and a role"):
                register_client(session, tenant, registration)
            assert session.scalar(select(func.count()).select_from(ApiClient)) == 0
    finally:
        db.dispose()


@pytest.mark.parametrize(
    "user",
    [
        ["--user-name", "Dr X", "--user-role", PHYSICIAN, "--user-npi", NPI],
        ["--user-npi", NPI, "--user-headers"],  # a default NPI for the user the headers name
        [],
    ],
)
def test_a_complete_requesting_user_is_registered(db_url: str, user: list[str]) -> None:
    assert main(["clients", "add", "x", "--scopes", "system/Patient.rs", *user]) == 0
    assert _clients(db_url) == ["x"]


def test_remove_frees_the_id_of_an_unused_client(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clients", "add", "x", "--scopes", "system/Patient.rs", "--api-key"]) == 0
    assert main(["clients", "add", "x", "--scopes", "system/Patient.rs"]) == 2
    assert "hiegate clients remove x" in capsys.readouterr().err
    assert main(["clients", "remove", "x"]) == 0
    assert "client x removed" in capsys.readouterr().out
    assert _clients(db_url) == []
    user = ["--user-name", "Dr X", "--user-role", PHYSICIAN]
    assert main(["clients", "add", "x", "--scopes", "system/Patient.rs", "--api-key", *user]) == 0
    assert main(["clients", "remove", "nobody"]) == 2
    assert "no client 'nobody'" in capsys.readouterr().err


def test_remove_keeps_a_client_with_history(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clients", "add", "x", "--scopes", "system/Patient.rs"]) == 0
    db = Database(db_url)
    try:
        with db.session() as session, session.begin():
            client = session.scalar(select(ApiClient).where(ApiClient.client_id == "x"))
            assert client is not None
            session.add(
                ApiExport(
                    tenant_id=client.tenant_id, client_pk=client.id, state="done", request_url="/$export",
                    types="Patient",
                )
            )  # fmt: skip
    finally:
        db.dispose()
    assert main(["clients", "remove", "x"]) == 2
    assert "hiegate clients disable x" in capsys.readouterr().err
    assert _clients(db_url) == ["x"]


@pytest.mark.parametrize("option", ["--jwks", "--public-key"])
def test_a_missing_key_file_is_hg_1002_naming_it(
    db_url: str, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    user = ["--user-name", "Dr X", "--user-role", PHYSICIAN]
    assert main(["clients", "add", "app", option, "nope.json", "--scopes", "system/Patient.rs", *user]) == 2
    err = capsys.readouterr().err
    what = "JWKS file" if option == "--jwks" else "key file"
    assert err == f"hiegate: HG-1002: {what} nope.json: no such file or folder\n"


def test_a_refused_value_prints_one_code(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    user = ["--user-name", "Dr X", "--user-role", "doctor"]
    assert main(["clients", "add", "app", "--scopes", "system/Patient.rs", *user]) == 2
    assert capsys.readouterr().err == "hiegate: HG-1001: role is not a known SNOMED CT occupation code\n"
