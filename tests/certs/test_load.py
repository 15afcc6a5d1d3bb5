"""Loading PEM certificates and keys and PKCS#12 bundles, and the errors users see when that fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from certs import (
    CertificatePurpose,
    DevPkiLayout,
    ensure_key_matches,
    load_certificate,
    load_certificates,
    load_identity,
    load_pkcs12,
    load_private_key,
    write_pkcs12,
    write_private_key,
)
from tests.certs.conftest import PKCS12_PASSWORD
from xca.errors import CertificateError, CertificateLoadError, KeyMismatchError, WrongPasswordError

SERVER = CertificatePurpose.TLS_SERVER
CLIENT = CertificatePurpose.TLS_CLIENT


def test_loads_every_certificate_of_a_multi_certificate_file(layout: DevPkiLayout, tmp_path: Path) -> None:
    chain_file = tmp_path / "chain.pem"
    chain_file.write_bytes(layout.certificate(SERVER).read_bytes() + layout.ca_certificate.read_bytes())
    certificates = load_certificates(chain_file)
    assert certificates == (
        load_certificate(layout.certificate(SERVER)),
        load_certificate(layout.ca_certificate),
    )
    assert load_certificate(chain_file) == certificates[0]


def test_identity_with_chain_in_the_certificate_file(layout: DevPkiLayout, tmp_path: Path) -> None:
    chain_file = tmp_path / "chain.pem"
    chain_file.write_bytes(layout.certificate(CLIENT).read_bytes() + layout.ca_certificate.read_bytes())
    identity = load_identity(chain_file, layout.key(CLIENT))
    assert identity.certificate == load_certificate(layout.certificate(CLIENT))
    assert identity.chain == (load_certificate(layout.ca_certificate),)


@pytest.mark.parametrize("loader", [load_certificates, load_private_key])
def test_missing_file_is_a_load_error_naming_the_path(tmp_path: Path, loader: object) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(CertificateLoadError) as info:
        loader(missing)  # type: ignore[operator]
    assert info.value.code == "HG-4001"
    assert info.value.detail["path"] == str(missing)
    assert str(missing) in info.value.message


def test_missing_file_relative_to_the_working_folder_is_named_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CertificateLoadError) as info:
        load_certificates(Path("var/certs/tls.pem"))
    assert info.value.message == f"The certificate file {tmp_path / 'var/certs/tls.pem'} does not exist."
    assert info.value.detail["path"] == "var/certs/tls.pem"


@pytest.mark.parametrize("content", [b"", b"not a certificate\n", b"-----BEGIN CERTIFICATE-----\nAAAA\n"])
def test_garbage_certificate_file_is_a_load_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.pem"
    path.write_bytes(content)
    with pytest.raises(CertificateLoadError):
        load_certificates(path)


def test_a_certificate_is_not_a_private_key(layout: DevPkiLayout) -> None:
    with pytest.raises(CertificateLoadError) as info:
        load_private_key(layout.ca_certificate)
    assert not isinstance(info.value, WrongPasswordError)


def test_encrypted_pem_key_with_right_wrong_and_no_password(layout: DevPkiLayout, tmp_path: Path) -> None:
    key = load_private_key(layout.key(CLIENT))
    path = tmp_path / "enc-key.pem"
    write_private_key(path, key, password="correct horse")
    assert load_private_key(path, password="correct horse").private_numbers() == key.private_numbers()  # type: ignore[union-attr]
    with pytest.raises(WrongPasswordError) as wrong:
        load_private_key(path, password="battery staple")
    assert wrong.value.code == "HG-4002"
    assert "battery" not in str(wrong.value)
    assert "battery" not in repr(wrong.value.detail)
    with pytest.raises(WrongPasswordError):
        load_private_key(path)


def test_password_for_an_unencrypted_key_is_ignored(layout: DevPkiLayout) -> None:
    assert load_private_key(layout.key(CLIENT), password="unused") is not None


def test_pkcs12_bundle_holds_the_client_identity_and_the_ca(layout: DevPkiLayout) -> None:
    bundle = load_pkcs12(layout.client_pkcs12, password=PKCS12_PASSWORD)
    assert bundle.certificate == load_certificate(layout.certificate(CLIENT))
    assert bundle.additional_certificates == (load_certificate(layout.ca_certificate),)
    ensure_key_matches(bundle.certificate, bundle.private_key)


def test_pkcs12_with_wrong_or_no_password(layout: DevPkiLayout) -> None:
    with pytest.raises(WrongPasswordError) as info:
        load_pkcs12(layout.client_pkcs12, password="wrong")
    assert info.value.detail["path"] == str(layout.client_pkcs12)
    with pytest.raises(WrongPasswordError):
        load_pkcs12(layout.client_pkcs12, password=None)


def test_pem_file_is_not_a_pkcs12_bundle(layout: DevPkiLayout) -> None:
    with pytest.raises(CertificateLoadError) as info:
        load_pkcs12(layout.ca_certificate, password=PKCS12_PASSWORD)
    assert not isinstance(info.value, WrongPasswordError)


def test_pkcs12_written_from_a_key_and_certificate_round_trips(layout: DevPkiLayout, tmp_path: Path) -> None:
    identity = load_identity(layout.certificate(SERVER), layout.key(SERVER))
    path = tmp_path / "server.p12"
    write_pkcs12(path, identity.private_key, identity.certificate, password=b"bytes-pass")  # type: ignore[arg-type]
    bundle = load_pkcs12(path, password=b"bytes-pass")
    assert bundle.certificate == identity.certificate
    assert bundle.additional_certificates == ()


def test_key_of_another_certificate_is_a_mismatch(layout: DevPkiLayout) -> None:
    with pytest.raises(KeyMismatchError) as info:
        load_identity(layout.certificate(SERVER), layout.key(CLIENT))
    assert info.value.code == "HG-4003"
    assert info.value.detail["path"] == str(layout.key(CLIENT))
    assert "TLS Server" in str(info.value.detail["subject"])
    assert isinstance(info.value, CertificateError)
    assert isinstance(info.value, ValueError)


def test_a_missing_dev_pki_file_says_how_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(CertificateLoadError) as caught:
        load_certificates(tmp_path / "signing.pem")
    assert caught.value.message.endswith(
        "does not exist: run `hiegate certs init` for a development PKI, or set certs_dir."
    )
    assert (
        caught.value.detail["problem"] == f"The certificate file {tmp_path / 'signing.pem'} does not exist."
    )


def test_another_missing_file_gets_no_dev_pki_hint(tmp_path: Path) -> None:
    with pytest.raises(CertificateLoadError) as caught:
        load_certificates(tmp_path / "collector-ca.pem")
    assert caught.value.message == f"The certificate file {tmp_path / 'collector-ca.pem'} does not exist."
    assert "hint" not in caught.value.detail
