"""``hiegate clients webhook CLIENT_ID URL [--secret-file PATH]`` registers or replaces a client's completion
webhook (a generated secret is printed once; a secret is never an argument), ``--remove`` removes it, and
``hiegate clients list`` shows its URL, never its secret. On SQLite, and on PostgreSQL when
HIEGATE_TEST_DATABASE_URL is set."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from fhir_facade.api.background import SIGNATURE_HEADER, WebhookPolicy, Worker, sign
from gateway.cli import main
from gateway.config import load_settings
from gateway.store import Database
from gateway.store.api import ApiClient
from gateway.store.api_jobs import ApiWebhook, ApiWebhookDelivery

SHOWN_ONCE = re.compile(
    r"^webhook secret \(shown once, it will not be shown again; store it now\): (\S+)$", re.M
)


@pytest.fixture
def db_url(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HIEGATE_DATABASE_URL", database_url)
    assert main(["clients", "add", "app", "--scopes", "system/Patient.rs"]) == 0
    assert main(["clients", "add", "other", "--scopes", "system/Patient.rs"]) == 0
    return database_url


@pytest.fixture
def hook_server() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def _hooks(url: str) -> dict[str, tuple[str, str]]:
    """client id -> (webhook URL, secret) as stored."""
    db = Database(url)
    try:
        with db.session() as session:
            rows = session.execute(
                select(ApiClient.client_id, ApiWebhook.url, ApiWebhook.secret).join(
                    ApiWebhook, ApiWebhook.client_pk == ApiClient.id
                )
            )
            return {row[0]: (row[1], row[2]) for row in rows}
    finally:
        db.dispose()


def _secret_file(tmp_path: Path, secret: str) -> str:
    path = tmp_path / f"secret-{uuid.uuid4().hex[:8]}"
    path.write_text(secret + "\n", encoding="utf-8")
    return str(path)


def _queue(url: str, client_id: str) -> None:
    """Queue one event for ``client_id``'s webhook as it is now, the way the API's worker does."""
    db = Database(url)
    try:
        with db.session() as session, session.begin():
            client = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
            hook = session.get(ApiWebhook, client.id) if client else None
            assert client is not None
            assert hook is not None
            session.add(
                ApiWebhookDelivery(
                    event_id="e" * 32, tenant_id=client.tenant_id, client_pk=client.id, job_id=uuid.uuid4(),
                    url=hook.url, body='{"id":"eeee","type":"pull.completed"}', attempts=0,
                )
            )  # fmt: skip
    finally:
        db.dispose()


def _send(url: str) -> bool:
    """Deliver the queued event the way the API's worker does."""
    db = Database(url)
    try:
        worker = Worker(load_settings(database_url=url), db, WebhookPolicy(attempts=1, timeout=5))
        return asyncio.run(worker._deliver("e" * 32))
    finally:
        db.dispose()


def _deliver(url: str, client_id: str) -> bool:
    _queue(url, client_id)
    return _send(url)


def _signature(headers: dict[str, str]) -> str:
    return next(value for name, value in headers.items() if name.lower() == SIGNATURE_HEADER.lower())


def test_a_generated_secret_is_printed_once_and_signs_the_deliveries(
    db_url: str,
    hook_server: tuple[str, list[tuple[dict[str, str], bytes]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    hook_url, received = hook_server
    assert main(["clients", "webhook", "app", hook_url]) == 0
    out = capsys.readouterr().out
    assert f"webhook of client app registered: {hook_url}" in out
    (secret,) = SHOWN_ONCE.findall(out)
    assert len(secret) >= 40
    assert out.count(secret) == 1
    assert _hooks(db_url) == {"app": (hook_url, secret)}

    assert _deliver(db_url, "app")
    ((headers, body),) = received
    signature = next(value for name, value in headers.items() if name.lower() == SIGNATURE_HEADER.lower())
    assert hmac.compare_digest(signature, sign(secret, body))
    assert signature == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_secret_file_is_read_and_never_printed(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _secret_file(tmp_path, "  s3cret-from-a-file  ")
    assert main(["clients", "webhook", "app", "https://clinic.example/hook", "--secret-file", path]) == 0
    out = capsys.readouterr().out
    assert "webhook of client app registered: https://clinic.example/hook" in out
    assert "s3cret" not in out
    assert "shown once" not in out
    assert _hooks(db_url) == {"app": ("https://clinic.example/hook", "s3cret-from-a-file")}


def test_a_second_registration_replaces_the_webhook(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clients", "webhook", "app", "https://old.example/hook"]) == 0
    (old_secret,) = SHOWN_ONCE.findall(capsys.readouterr().out)
    path = _secret_file(tmp_path, "a-new-secret-for-the-hook")
    assert main(["clients", "webhook", "app", "https://new.example/hook", "--secret-file", path]) == 0
    assert "webhook of client app replaced: https://new.example/hook" in capsys.readouterr().out
    assert _hooks(db_url) == {"app": ("https://new.example/hook", "a-new-secret-for-the-hook")}
    assert main(["clients", "webhook", "app", "https://new.example/hook"]) == 0
    (new_secret,) = SHOWN_ONCE.findall(capsys.readouterr().out)
    assert new_secret != old_secret
    assert _hooks(db_url) == {"app": ("https://new.example/hook", new_secret)}


def test_an_event_queued_before_a_replacement_goes_to_the_new_webhook(
    db_url: str,
    tmp_path: Path,
    hook_server: tuple[str, list[tuple[dict[str, str], bytes]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    hook_url, received = hook_server
    assert main(["clients", "webhook", "app", "http://127.0.0.1:9/gone"]) == 0
    _queue(db_url, "app")  # for the webhook the client is about to replace
    path = _secret_file(tmp_path, "the-replacing-secret")
    assert main(["clients", "webhook", "app", hook_url, "--secret-file", path]) == 0
    assert _send(db_url)
    ((headers, body),) = received  # at the new URL, signed with the secret its receiver knows
    assert hmac.compare_digest(_signature(headers), sign("the-replacing-secret", body))


def test_list_shows_the_webhook_url_and_never_its_secret(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clients", "webhook", "app", "https://clinic.example/hook"]) == 0
    (secret,) = SHOWN_ONCE.findall(capsys.readouterr().out)
    assert main(["clients", "list"]) == 0
    out = capsys.readouterr().out
    assert secret not in out
    app, other = out.splitlines()
    assert app.split("\t") == [
        "app", "default", "active", "api_keys=0", "jwks=0", "system/Patient.rs", "webhook=https://clinic.example/hook",
    ]  # fmt: skip
    assert other.split("\t") == ["other", "default", "active", "api_keys=0", "jwks=0", "system/Patient.rs"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["app", "http://example.org/hook"], "HG-1001: the webhook URL must be https (http only to the"),
        (["app", "https:///hook"], "HG-1001: the webhook URL must name a host"),
        (["nobody", "https://clinic.example/hook"], "HG-1001: no client 'nobody'"),
        (["app"], "HG-1001: give the webhook URL, or --remove"),
        (["app", "https://clinic.example/hook", "--remove"], "HG-1001: --remove takes no URL"),
        (["app", "https://clinic.example/hook", "--secret-file", "short"], "secret must have at least 8"),
        (["app", "https://clinic.example/hook", "--secret-file", "missing"], "HG-1002: missing"),
    ],
)  # fmt: skip
def test_a_refused_registration_is_one_error_line(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (tmp_path / "short").write_text("1234567\n", encoding="utf-8")
    assert main(["clients", "webhook", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("hiegate: HG-100")
    assert message in captured.err
    assert len(captured.err.splitlines()) == 1
    assert "Traceback" not in captured.err
    assert "secret" not in captured.out  # a refused registration prints no secret
    assert _hooks(db_url) == {}


def test_remove_deletes_the_webhook(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clients", "webhook", "app", "https://clinic.example/hook"]) == 0
    assert main(["clients", "webhook", "other", "https://other.example/hook"]) == 0
    capsys.readouterr()
    assert main(["clients", "webhook", "app", "--remove"]) == 0
    assert "webhook of client app removed" in capsys.readouterr().out
    assert list(_hooks(db_url)) == ["other"]
    assert main(["clients", "list"]) == 0
    assert "clinic.example" not in capsys.readouterr().out
    assert main(["clients", "webhook", "app", "--remove"]) == 2
    assert "hiegate: HG-1001: client 'app' has no webhook" in capsys.readouterr().err
    assert main(["clients", "webhook", "nobody", "--remove"]) == 2
    assert "hiegate: HG-1001: no client 'nobody'" in capsys.readouterr().err
    assert list(_hooks(db_url)) == ["other"]
