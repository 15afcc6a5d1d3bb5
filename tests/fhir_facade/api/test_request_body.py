"""Request bodies at the ASGI level: over the limit is 413 (refused by its declared length before any of it is
read, or once what arrived passes the limit), and a client that goes away mid-body is no server error."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from fhir_facade.api.http import MAX_BODY
from tests.fhir_facade.api.conftest import Api, Registered, patient_json

Message = dict[str, Any]


def _scope(path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "server": ("hiegate.test", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(name.lower().encode(), value.encode("latin-1")) for name, value in headers.items()],
    }


def _call(
    api: Api, path: str, headers: dict[str, str], receive: Callable[[], Any], timeout: float = 10.0
) -> list[Message]:
    """What the app sent for one request whose body ``receive`` delivers; fails if it has not answered (or
    given up on the request) within ``timeout``."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def run() -> None:
        await asyncio.wait_for(api.app(_scope(path, headers), receive, send), timeout)

    asyncio.run(run())
    return sent


def _answer(sent: list[Message]) -> tuple[int, dict[str, Any]]:
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], orjson.loads(body)


def _headers(client: Registered, **more: str) -> dict[str, str]:
    return {"content-type": "application/fhir+json", "x-api-key": client.api_key, **more}


def _too_large(outcome: dict[str, Any]) -> None:
    issue = outcome["issue"][0]
    assert (outcome["resourceType"], issue["code"]) == ("OperationOutcome", "too-long")
    assert f"larger than {MAX_BODY} bytes" in issue["diagnostics"]
    assert "HG-9005" in orjson.dumps(outcome).decode()


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(
    api: Api, alice: Registered
) -> None:
    # A client announcing 2 MB and sending nothing: answered at once, not waited for.
    asked: list[bool] = []

    async def receive() -> Message:
        asked.append(True)
        await asyncio.sleep(5)  # the body never comes; the client gives up
        return {"type": "http.disconnect"}

    sent = _call(api, "/Patient", _headers(alice, **{"content-length": str(2 * MAX_BODY)}), receive)
    status, outcome = _answer(sent)
    assert status == 413
    _too_large(outcome)
    assert asked == []


def test_a_chunked_body_is_cut_off_once_past_the_limit(api: Api, alice: Registered) -> None:
    chunk = b" " * 65536
    delivered: list[int] = []

    async def receive() -> Message:
        delivered.append(len(chunk))  # ends at 3 x the limit, so that a reader without one fails, not hangs
        return {"type": "http.request", "body": chunk, "more_body": sum(delivered) < 3 * MAX_BODY}

    status, outcome = _answer(_call(api, "/Patient", _headers(alice), receive))
    assert status == 413
    _too_large(outcome)
    assert sum(delivered) <= MAX_BODY + len(chunk)  # read no further than the chunk that passed the limit


def test_a_body_within_the_limit_is_read_in_chunks(api: Api, alice: Registered) -> None:
    body = orjson.dumps(patient_json())
    chunks = [body[at : at + 100] for at in range(0, len(body), 100)]

    async def receive() -> Message:
        part = chunks.pop(0)
        return {"type": "http.request", "body": part, "more_body": bool(chunks)}

    status, created = _answer(_call(api, "/Patient", _headers(alice), receive))
    assert status == 201, created
    assert created["resourceType"] == "Patient"


def test_a_client_gone_mid_body_is_no_server_error(
    api: Api, alice: Registered, caplog: pytest.LogCaptureFixture
) -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"resourceType": "Pa', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    with caplog.at_level(logging.INFO):
        sent = _call(api, "/Patient", _headers(alice, **{"content-length": "100"}), receive)
    assert sent == []  # nobody to answer
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert "Traceback" not in caplog.text
    lines = [r.getMessage() for r in caplog.records if r.name == "fhir_facade.api.requests"]
    assert [line.split()[:3] for line in lines] == [["POST", "/Patient", "499"]]


def test_the_token_endpoint_refuses_a_large_body_in_oauth_terms(api: Api) -> None:
    headers = {"content-type": "application/x-www-form-urlencoded", "content-length": str(65 * 1024)}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"a" * (65 * 1024), "more_body": False}

    status, body = _answer(_call(api, "/auth/token", headers, receive))
    assert (status, body["error"]) == (400, "invalid_request")
    assert "too large" in body["error_description"]


@pytest.mark.parametrize("declared", ["\u00b2", "9" * 5000, "+5", "-1"])
def test_an_odd_content_length_is_no_server_error(api: Api, alice: Registered, declared: str) -> None:
    """A Content-Length that is not plain ASCII digits (a superscript two is one Latin-1 byte that
    str.isdigit() takes; 5,000 digits int() refuses) is not believed: the body read decides."""
    body = orjson.dumps(patient_json())

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    status, answer = _answer(_call(api, "/Patient", _headers(alice, **{"content-length": declared}), receive))
    assert status == 201, answer
