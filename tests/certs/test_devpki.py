"""``init_dev_pki``: the files, their extensions as OpenSSL sees them, and the keep/force/repair behaviour."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from certs import (
    CertificatePurpose,
    CertifiedKey,
    DevPkiLayout,
    FileStatus,
    check_dev_pki,
    create_ca,
    init_dev_pki,
    issue_identity,
    load_certificate,
    load_certificates,
    load_identity,
    validate_certificate,
    write_identity,
)
from xca.errors import CaKeyMissingError, WrongPasswordError

LEAVES = [CertificatePurpose.TLS_SERVER, CertificatePurpose.TLS_CLIENT, CertificatePurpose.SIGNING]
KEY_FILES = ["ca-key.pem", "tls-server-key.pem", "tls-client-key.pem", "signing-key.pem", "tls-client.p12"]
ALL_FILES = [
    "ca.pem",
    "trust-bundle.pem",
    "tls-server.pem",
    "tls-client.pem",
    "signing.pem",
    *KEY_FILES,
]
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], capture_output=True, text=True, check=False, timeout=30)


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_creates_every_file_with_private_material_readable_by_owner_only(pristine_pki: Path) -> None:
    assert sorted(p.name for p in pristine_pki.iterdir()) == sorted(ALL_FILES)
    for name in KEY_FILES:
        assert stat.S_IMODE((pristine_pki / name).stat().st_mode) == 0o600, name
    for name in set(ALL_FILES) - set(KEY_FILES):
        assert stat.S_IMODE((pristine_pki / name).stat().st_mode) & 0o022 == 0, name


@needs_openssl
@pytest.mark.parametrize("purpose", LEAVES)
def test_openssl_verifies_each_leaf_against_the_ca(pristine_pki: Path, purpose: CertificatePurpose) -> None:
    result = _openssl("verify", "-CAfile", str(pristine_pki / "ca.pem"), str(pristine_pki / f"{purpose}.pem"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(": OK")


@needs_openssl
def test_openssl_rejects_a_leaf_against_another_ca(pristine_pki: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    write_identity(other, issue_identity(create_ca(common_name="Other CA"), "other"))
    result = _openssl("verify", "-CAfile", str(pristine_pki / "ca.pem"), str(other / "tls-server.pem"))
    assert result.returncode != 0


@needs_openssl
def test_openssl_reads_server_san_and_eku(pristine_pki: Path) -> None:
    result = _openssl(
        "x509",
        "-in",
        str(pristine_pki / "tls-server.pem"),
        "-noout",
        "-ext",
        "subjectAltName,extendedKeyUsage",
    )
    assert result.returncode == 0, result.stderr
    assert "DNS:localhost" in result.stdout
    assert "IP Address:127.0.0.1" in result.stdout
    assert "TLS Web Server Authentication" in result.stdout
    assert "Client Authentication" not in result.stdout


def test_ca_is_a_ten_year_self_signed_root(layout: DevPkiLayout) -> None:
    ca = load_certificate(layout.ca_certificate)
    assert ca.subject == ca.issuer
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert (constraints.critical, constraints.value.ca) == (True, True)
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.key_cert_sign, usage.crl_sign, usage.digital_signature) == (True, True, False)
    assert ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert dt.timedelta(days=3640) < lifetime < dt.timedelta(days=3660)
    assert load_certificates(layout.trust_bundle) == (ca,)


@pytest.mark.parametrize(
    ("purpose", "eku", "digital_signature", "non_repudiation"),
    [
        (CertificatePurpose.TLS_SERVER, [ExtendedKeyUsageOID.SERVER_AUTH], True, False),
        (CertificatePurpose.TLS_CLIENT, [ExtendedKeyUsageOID.CLIENT_AUTH], True, False),
        (CertificatePurpose.SIGNING, None, True, True),
    ],
)
def test_leaf_profile(
    layout: DevPkiLayout,
    purpose: CertificatePurpose,
    eku: list[x509.ObjectIdentifier] | None,
    digital_signature: bool,
    non_repudiation: bool,
) -> None:
    ca = load_certificate(layout.ca_certificate)
    identity = load_identity(layout.certificate(purpose), layout.key(purpose))
    cert = identity.certificate
    assert isinstance(identity.private_key, rsa.RSAPrivateKey)
    assert identity.private_key.key_size == 2048
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.digital_signature, usage.content_commitment) == (digital_signature, non_repudiation)
    assert not usage.key_cert_sign
    if eku is None:
        with pytest.raises(x509.ExtensionNotFound):
            cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    else:
        assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == eku
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=700) < lifetime < dt.timedelta(days=760)
    assert cert.serial_number != ca.serial_number


def test_server_san_lists_dns_names_and_ip_addresses(layout: DevPkiLayout) -> None:
    san = load_certificate(
        layout.certificate(CertificatePurpose.TLS_SERVER)
    ).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.value.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_rerun_keeps_every_file_byte_identical(pki_copy: Path) -> None:
    before = _snapshot(pki_copy)
    result = init_dev_pki(pki_copy, pkcs12_password="p12-secret")
    assert _snapshot(pki_copy) == before
    assert {f.status for f in result.files} == {FileStatus.KEPT}
    assert sorted(p.name for p in result.with_status(FileStatus.KEPT)) == sorted(ALL_FILES)
    assert "kept      ca-key.pem" in str(result)


def test_force_replaces_every_key_with_a_new_consistent_pki(pki_copy: Path) -> None:
    before = _snapshot(pki_copy)
    result = init_dev_pki(pki_copy, force=True)
    after = _snapshot(pki_copy)
    for name in ["ca-key.pem", "tls-server-key.pem", "tls-client-key.pem", "signing-key.pem"]:
        assert after[name] != before[name], name
    assert {f.status for f in result.files} == {FileStatus.REPLACED}
    assert check_dev_pki(pki_copy).ok


def test_deleting_one_leaf_recreates_only_that_leaf(pki_copy: Path) -> None:
    layout = DevPkiLayout(pki_copy)
    before = _snapshot(pki_copy)
    layout.certificate(CertificatePurpose.TLS_SERVER).unlink()
    layout.key(CertificatePurpose.TLS_SERVER).unlink()
    result = init_dev_pki(pki_copy)
    assert sorted(p.name for p in result.with_status(FileStatus.CREATED)) == [
        "tls-server-key.pem",
        "tls-server.pem",
    ]
    after = _snapshot(pki_copy)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"tls-server.pem", "tls-server-key.pem"}
    new_server = load_certificate(layout.certificate(CertificatePurpose.TLS_SERVER))
    validate_certificate(
        new_server,
        load_certificates(layout.trust_bundle),
        purpose=CertificatePurpose.TLS_SERVER,
        hostname="localhost",
    )


def test_deleted_certificate_is_reissued_for_the_kept_key(pki_copy: Path) -> None:
    layout = DevPkiLayout(pki_copy)
    key_before = layout.key(CertificatePurpose.SIGNING).read_bytes()
    layout.certificate(CertificatePurpose.SIGNING).unlink()
    result = init_dev_pki(pki_copy)
    assert [p.name for p in result.with_status(FileStatus.CREATED)] == ["signing.pem"]
    assert layout.key(CertificatePurpose.SIGNING).read_bytes() == key_before
    load_identity(layout.certificate(CertificatePurpose.SIGNING), layout.key(CertificatePurpose.SIGNING))


def test_missing_ca_key_refuses_to_start_a_second_ca(pki_copy: Path) -> None:
    layout = DevPkiLayout(pki_copy)
    layout.ca_key.unlink()
    layout.certificate(CertificatePurpose.TLS_CLIENT).unlink()
    before = _snapshot(pki_copy)
    with pytest.raises(CaKeyMissingError) as info:
        init_dev_pki(pki_copy)
    assert info.value.code == "HG-4007"
    assert info.value.detail["missing"] == "ca-key.pem"
    assert _snapshot(pki_copy) == before


def test_encrypted_keys_need_their_password(tmp_path: Path) -> None:
    init_dev_pki(tmp_path, key_password="key-secret", gateway_name="enc-gw")
    layout = DevPkiLayout(tmp_path)
    assert b"ENCRYPTED PRIVATE KEY" in layout.ca_key.read_bytes()
    with pytest.raises(WrongPasswordError):
        load_identity(layout.certificate(CertificatePurpose.SIGNING), layout.key(CertificatePurpose.SIGNING))
    report = check_dev_pki(tmp_path, key_password="key-secret")
    assert report.ok, str(report)
    # Completing the PKI needs the CA key, which only the password opens.
    layout.certificate(CertificatePurpose.TLS_CLIENT).unlink()
    layout.key(CertificatePurpose.TLS_CLIENT).unlink()
    with pytest.raises(WrongPasswordError):
        init_dev_pki(tmp_path, key_password="wrong")
    result = init_dev_pki(tmp_path, key_password="key-secret")
    assert len(result.with_status(FileStatus.CREATED)) == 2


def test_issue_identity_from_existing_ca_for_simulated_gateways(
    dev_ca: CertifiedKey, layout: DevPkiLayout, tmp_path: Path
) -> None:
    identities = [issue_identity(dev_ca, "sim-gw-001", hostnames=["127.0.0.1"])]
    anchors = load_certificates(layout.trust_bundle)
    for identity in identities:
        out = write_identity(tmp_path / identity.name, identity)
        for purpose in LEAVES:
            loaded = load_identity(out.certificate(purpose), out.key(purpose))
            validate_certificate(loaded.certificate, anchors, purpose=purpose)
        validate_certificate(
            identity.tls_server.certificate,
            anchors,
            purpose=CertificatePurpose.TLS_SERVER,
            hostname="127.0.0.1",
        )
    serials = {identities[0].for_purpose(p).certificate.serial_number for p in LEAVES}
    assert len(serials) == 3


def test_check_reports_a_broken_file_without_stopping(pki_copy: Path) -> None:
    layout = DevPkiLayout(pki_copy)
    layout.key(CertificatePurpose.TLS_CLIENT).write_bytes(layout.key(CertificatePurpose.SIGNING).read_bytes())
    report = check_dev_pki(pki_copy)
    assert not report.ok
    assert [c.ok for c in report.checks] == [True, False, True]
    assert "HG-4003" in str(report)


def test_deleted_ca_certificate_is_reissued_for_the_kept_ca_key(pki_copy: Path) -> None:
    layout = DevPkiLayout(pki_copy)
    before = _snapshot(pki_copy)
    layout.ca_certificate.unlink()
    result = init_dev_pki(pki_copy)
    assert [p.name for p in result.with_status(FileStatus.CREATED)] == ["ca.pem"]
    assert [p.name for p in result.with_status(FileStatus.REPLACED)] == ["trust-bundle.pem"]
    after = _snapshot(pki_copy)
    assert {name for name in before if before[name] != after[name]} == {"ca.pem", "trust-bundle.pem"}
    # Same key and subject: the leaves issued before still chain to the new CA certificate.
    assert check_dev_pki(pki_copy).ok
