"""Sandboxes shared by the tests: a dev PKI for the session, a small healthy sandbox, and one gateway per
fault mode. Everything binds 127.0.0.1 on free ports and lives under pytest's tmp folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from certs import init_dev_pki
from gateway.sandbox import Sandbox, SandboxConfig, run_sandbox
from gateway.sandbox.probe import SandboxProbe

FAULTS = (
    "timeout:gw2,slow-drip:gw3,http500:gw4,soapfault:gw5,registry-error:gw6,malformed-xml:gw7,"
    "connection-reset:gw8,tls-wrong-cert:gw9,tls-expired-cert:gw10,no-match:gw11,partial-retrieve:gw12"
)


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sandbox-pki")
    init_dev_pki(directory)
    return directory


@pytest.fixture(scope="module")
def small(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    config = SandboxConfig(
        gateways=5,
        patients=4,
        seed=7,
        latency="uniform:1ms-5ms",
        folder=tmp_path_factory.mktemp("sandbox-small"),
        certs_dir=pki_dir,
        pdf=True,
    )
    with run_sandbox(config) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def faulty(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    config = SandboxConfig(
        gateways=13,
        patients=16,
        seed=3,
        latency="fixed:0ms; fixed:300ms@gw1",
        faults=FAULTS,
        folder=tmp_path_factory.mktemp("sandbox-faulty"),
        certs_dir=pki_dir,
    )
    with run_sandbox(config) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def probe(pki_dir: Path) -> Iterator[SandboxProbe]:
    with SandboxProbe(pki_dir, timeout=10) as client:
        yield client


def person_at(sandbox: Sandbox, label: str) -> dict[str, Any]:
    """A person with a record at gateway ``label`` (the tests' seeds guarantee one)."""
    hcid = sandbox.gateway(label).home_community_id
    for person in sandbox.patients:
        if hcid in person["expected"]["by_gateway"]:
            return person
    raise AssertionError(f"nobody is registered at {label}")
