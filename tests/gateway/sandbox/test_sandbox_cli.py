"""``hiegate sandbox`` from the command line: the reason a ``--port`` is refused, a port already in use as one
line, and ``--exit`` does not tell the user to press Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.sandbox import SandboxConfig
from tests.env import isolate_settings
from xca.errors import ConfigError


@pytest.fixture(autouse=True)
def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pki_dir: Path) -> None:
    isolate_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("HIEGATE_CERTS_DIR", str(pki_dir))


@pytest.mark.parametrize("port", ["80", "1", "-5"])
def test_a_privileged_port_says_so(capsys: pytest.CaptureFixture[str], port: str) -> None:
    assert main(["sandbox", "--port", port, "--exit"]) == 2
    assert capsys.readouterr().err == (
        "hiegate: HG-1001: --port must be 1024 or above (ports below 1024 need administrator rights), "
        "or 0 for free ports\n"
    )


def test_a_port_too_high_for_every_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "--port", "65535", "--gateways", "2", "--exit"]) == 2
    assert capsys.readouterr().err == (
        "hiegate: HG-1001: --port must be at most 65534 with 2 gateways "
        "(gateway i listens on PORT+i, the last below 65536)\n"
    )


def test_the_highest_port_fits_one_gateway() -> None:
    SandboxConfig(gateways=1, base_port=65535)
    SandboxConfig(gateways=2, base_port=65534)
    with pytest.raises(ConfigError):
        SandboxConfig(gateways=2, base_port=65535)


def test_a_port_in_use_is_one_line(busy_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["sandbox", "--gateways", "1", "--patients", "1", "--port", str(busy_port), "--exit"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == f"hiegate: HG-1003: port {busy_port} on 127.0.0.1 is already in use\n"


def test_exit_does_not_say_ctrl_c(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "--gateways", "1", "--patients", "1", "--exit"]) == 0
    out = capsys.readouterr().out
    assert "started in " in out
    assert "Ctrl-C" not in out
