"""``hiegate serve`` for real: uvicorn on 127.0.0.1 on an ephemeral port, one HTTP request; and the
``hiegate clients`` commands."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from fhir.resources.R4B.capabilitystatement import CapabilityStatement

from fhir_facade.api import create_app
from gateway.cli import main
from tests.fhir_facade.api.conftest import api_settings


def test_live_server_answers_metadata(tmp_path: Path) -> None:
    settings = api_settings(tmp_path, f"sqlite:///{tmp_path / 'var' / 'hiegate.db'}")
    app = create_app(settings)  # applies the migrations, as `hiegate serve` does
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        response = httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=5)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/fhir+json"
        CapabilityStatement.model_validate(response.json())
        unauthenticated = httpx.get(f"http://127.0.0.1:{port}/Patient", timeout=5)
        assert unauthenticated.status_code == 401
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        app.state.api.database.dispose()


def test_clients_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HIEGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'cli.db'}")
    public = ec.generate_private_key(ec.SECP384R1()).public_key()
    pem = tmp_path / "client.pem"
    pem.write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    args = ["clients", "add", "ehr-1", "--scopes", "system/Patient.rs", "system/AuditEvent.read",
            "--public-key", str(pem), "--user-name", "Dr Who", "--user-role", "112247003",
            "--api-key"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "ehr-1 registered for tenant default" in out
    assert "hgk_" in out
    assert main(["clients", "list"]) == 0
    assert "ehr-1\tdefault\tactive\tapi_keys=1\tjwks=1\t" in capsys.readouterr().out
    assert main(["clients", "add", "ehr-1", "--scopes", "system/Patient.rs"]) == 2  # taken
    assert main(["clients", "add", "x", "--scopes", "system/Patient.rs", "--user-npi", "123"]) == 2
    assert main(["clients", "key", "ehr-1", "--scopes", "system/Patient.cruds"]) == 2  # beyond the client
    assert main(["clients", "disable", "ehr-1"]) == 0


def test_clients_list_counts_api_keys_not_jwks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HIEGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'var' / 'cli.db'}")
    assert main(["clients", "add", "dev-1", "--scopes", "system/Patient.rs", "--api-key"]) == 0
    assert main(["clients", "list"]) == 0
    assert "dev-1\tdefault\tactive\tapi_keys=1\tjwks=0\t" in capsys.readouterr().out
    assert main(["clients", "key", "dev-1"]) == 0
    assert main(["clients", "list"]) == 0
    assert "\tapi_keys=2\t" in capsys.readouterr().out
