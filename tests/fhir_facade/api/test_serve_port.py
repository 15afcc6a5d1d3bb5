"""``hiegate serve`` binds its port before it prints anything: a port already in use is one line and exit 1
(not the banner, then uvicorn's log line and exit 3); a free port is served as before."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from gateway.cli import main
from tests.env import isolate_settings


@pytest.fixture(autouse=True)
def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_settings(monkeypatch, tmp_path)


def test_a_port_in_use_is_one_line_before_the_banner(
    busy_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", str(busy_port)]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"hiegate: HG-1003: port {busy_port} on 127.0.0.1 is already in use\n"
    assert captured.out == ""


def test_a_free_port_is_served(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    started: list[uvicorn.Server] = []

    class Recorded(uvicorn.Server):
        def __init__(self, config: uvicorn.Config, **kwargs: Any) -> None:
            super().__init__(config, **kwargs)
            started.append(self)

    monkeypatch.setattr(uvicorn, "Server", Recorded)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    status: list[int] = []
    thread = threading.Thread(target=lambda: status.append(main(["serve", "--port", str(port)])), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not (started and started[0].started) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert started
        assert started[0].started
        assert httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=5).status_code == 200
    finally:
        if started:
            started[0].should_exit = True
        thread.join(timeout=10)
    assert status == [0]
    assert f"FHIR API on http://127.0.0.1:{port}" in capsys.readouterr().out


@pytest.mark.parametrize("named", ["missing.toml", ""], ids=["missing", "folder"])
def test_a_named_partners_file_that_cannot_be_read_stops_serve_before_it_serves(
    named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Read at start, not at each tenant's first $pull (which would answer 500 with the reason hidden).
    path = tmp_path / (named or "folder")
    if not named:
        path.mkdir()
    monkeypatch.setenv("HIEGATE_PARTNERS_FILE", str(path))
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: pytest.fail("served"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["serve", "--port", str(port)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"hiegate: HG-1002: partners_file {path}: ")
    assert captured.err.count("\n") == 1


def test_an_empty_partners_file_setting_means_none_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.config import load_settings

    monkeypatch.setenv("HIEGATE_PARTNERS_FILE", "")  # as ${X:-} leaves it in a compose file
    settings = load_settings()
    assert (settings.partners_file, settings.partners_file_named) == (Path("partners.toml"), False)
