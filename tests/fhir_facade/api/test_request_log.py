"""``hiegate serve`` logs each request as method, route template, status and duration: never the query
string or a patient id in the path (uvicorn's access log, which writes both, is off)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from fhir_facade.api import create_app
from fhir_facade.api.auth.clients import ClientRegistration, add_api_key, register_client
from fhir_facade.api.cli import _uvicorn_options
from gateway.store.documents import ensure_tenant
from tests.fhir_facade.api.conftest import FHIR_JSON_HEADERS, api_settings, patient_json

PHI = ("Montgomery", "1949-09-12", "MRN-P02")
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class _Capture(logging.Filter):
    """Sees every record logged on the logger it filters, whether or not the logger propagates.

    A filter, not a handler: uvicorn writes its access log only when ``uvicorn.access`` has a handler."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return True


@pytest.fixture
def uvicorn_records() -> Iterator[_Capture]:
    """The records of uvicorn's loggers, which its logging config keeps from propagating to caplog; the
    loggers are put back afterwards (uvicorn's Config configures them globally)."""
    capture = _Capture()
    saved = [(logger, logger.level, logger.propagate, list(logger.handlers))
             for logger in map(logging.getLogger, UVICORN_LOGGERS)]  # fmt: skip
    yield capture
    for logger, level, propagate, handlers in saved:
        logger.removeFilter(capture)
        logger.setLevel(level)
        logger.propagate = propagate
        logger.handlers[:] = handlers


def test_served_requests_are_logged_without_query_or_patient_id(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    uvicorn_records: _Capture,
) -> None:
    settings = api_settings(tmp_path, f"sqlite:///{tmp_path / 'var' / 'hiegate.db'}", log_level="DEBUG")
    app = create_app(settings)
    with app.state.api.database.session() as session, session.begin():
        tenant = ensure_tenant(session, "clinic-a", "Clinic A")
        client = register_client(
            session, tenant, ClientRegistration("logged", "logged", "system/Patient.crs")
        )
        key = add_api_key(session, client)
    headers = {**FHIR_JSON_HEADERS, "X-API-Key": key}
    config = uvicorn.Config(app, **{**_uvicorn_options(settings), "lifespan": "off"})  # as `hiegate serve`
    caplog.set_level(logging.DEBUG)
    for name in UVICORN_LOGGERS:
        logging.getLogger(name).addFilter(uvicorn_records)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        body = patient_json("Montgomery", "Eleanor", "1949-09-12", identifiers=(("urn:mrn", "MRN-P02"),))
        created = httpx.post(f"{base}/Patient", json=body, headers=headers, timeout=5)
        assert created.status_code == 201, created.text
        patient_id = created.json()["id"]
        for url in (
            "/Patient?family=Montgomery&birthdate=1949-09-12",
            "/Patient?identifier=urn:mrn|MRN-P02",
            f"/Patient/{patient_id}",
            "/Montgomery?birthdate=1949-09-12",
        ):
            httpx.get(f"{base}{url}", headers=headers, timeout=5)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        app.state.api.database.dispose()

    # Every logger but the test's own HTTP client (httpx logs the URLs it asks for).
    records = [*caplog.records, *uvicorn_records.records]
    messages = [r.getMessage() for r in records if not r.name.startswith(("httpx", "httpcore"))]
    printed = capfd.readouterr()
    logged = "\n".join([*messages, printed.out, printed.err])
    for value in (*PHI, patient_id):
        assert value not in logged
    requests = [m for m in messages if m.startswith(("GET ", "POST "))]
    assert any(m.startswith("POST /Patient 201 ") for m in requests), messages
    assert sum(m.startswith("GET /Patient 200 ") for m in requests) == 2, messages
    assert any(m.startswith("GET /Patient/{patient_id} 200 ") for m in requests), messages
    assert any(m.startswith("GET - 404 ") for m in requests), messages
