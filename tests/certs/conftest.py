"""Shared PKIs for the certs tests: generated once per session, copied when a test changes files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from certs import CertifiedKey, DevPkiLayout, create_ca, init_dev_pki, load_certificate, load_private_key

PKCS12_PASSWORD = "p12-secret"


@pytest.fixture(scope="session")
def pristine_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dev PKI with a PKCS#12 bundle; read-only for tests (use ``pki_copy`` to change files)."""
    directory = tmp_path_factory.mktemp("pki") / "dev"
    init_dev_pki(directory, pkcs12_password=PKCS12_PASSWORD)
    return directory


@pytest.fixture
def pki_copy(pristine_pki: Path, tmp_path: Path) -> Path:
    """A private copy of the shared dev PKI (file modes preserved), for tests that re-run or delete."""
    target = tmp_path / "pki"
    shutil.copytree(pristine_pki, target)
    return target


@pytest.fixture(scope="session")
def layout(pristine_pki: Path) -> DevPkiLayout:
    return DevPkiLayout(pristine_pki)


@pytest.fixture(scope="session")
def dev_ca(layout: DevPkiLayout) -> CertifiedKey:
    """The shared PKI's CA, to issue further (expired, future, short-lived) certificates from."""
    key = load_private_key(layout.ca_key)
    assert isinstance(key, rsa.RSAPrivateKey)
    return CertifiedKey(certificate=load_certificate(layout.ca_certificate), private_key=key)


@pytest.fixture(scope="session")
def other_ca() -> CertifiedKey:
    """An unrelated CA that nobody trusts."""
    return create_ca(common_name="Unrelated Test CA")
