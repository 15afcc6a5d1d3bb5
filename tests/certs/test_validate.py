"""Chain validation against a trust bundle, its error classes, and expiry warnings."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certs import (
    CertificatePurpose,
    CertifiedKey,
    DevPkiLayout,
    create_ca,
    expiry_warnings,
    issue_certified_key,
    load_certificate,
    load_certificates,
    new_rsa_key,
    validate_certificate,
)
from xca.errors import CertificateExpiredError, CertificateNotYetValidError, UntrustedCertificateError

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
SERVER = CertificatePurpose.TLS_SERVER
CLIENT = CertificatePurpose.TLS_CLIENT
SIGNING = CertificatePurpose.SIGNING


def _leaf(ca: CertifiedKey, purpose: CertificatePurpose = CLIENT, **kwargs: object) -> x509.Certificate:
    hosts = ["localhost"] if purpose is SERVER else []
    return issue_certified_key(ca, purpose, common_name="test-leaf", hostnames=hosts, **kwargs).certificate  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def old_ca() -> CertifiedKey:
    """A CA created five years ago, so that it can have issued certificates that have expired since."""
    return create_ca(common_name="Five Year Old CA", now=NOW - 5 * 365 * DAY)


@pytest.fixture(scope="module")
def anchors(layout: DevPkiLayout) -> tuple[x509.Certificate, ...]:
    return load_certificates(layout.trust_bundle)


@pytest.mark.parametrize("purpose", [SERVER, CLIENT, SIGNING])
def test_generated_leaves_validate_for_their_purpose(
    layout: DevPkiLayout, anchors: tuple[x509.Certificate, ...], purpose: CertificatePurpose
) -> None:
    leaf = load_certificate(layout.certificate(purpose))
    result = validate_certificate(leaf, anchors, purpose=purpose)
    assert result.chain == (leaf, anchors[0])
    assert result.warnings == ()


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1"])
def test_server_certificate_matches_its_hostnames(
    layout: DevPkiLayout, anchors: tuple[x509.Certificate, ...], hostname: str
) -> None:
    validate_certificate(load_certificate(layout.certificate(SERVER)), anchors, hostname=hostname)


def test_server_certificate_for_another_host_is_untrusted(
    layout: DevPkiLayout, anchors: tuple[x509.Certificate, ...]
) -> None:
    with pytest.raises(UntrustedCertificateError):
        validate_certificate(
            load_certificate(layout.certificate(SERVER)), anchors, hostname="gateway.example.org"
        )


@pytest.mark.parametrize(("certificate", "purpose"), [(SERVER, CLIENT), (CLIENT, SERVER)])
def test_certificate_used_for_the_wrong_purpose_is_untrusted(
    layout: DevPkiLayout,
    anchors: tuple[x509.Certificate, ...],
    certificate: CertificatePurpose,
    purpose: CertificatePurpose,
) -> None:
    leaf = load_certificate(layout.certificate(certificate))
    with pytest.raises(UntrustedCertificateError) as info:
        validate_certificate(leaf, anchors, purpose=purpose)
    assert "extended key usage" in str(info.value.detail["reason"])


def test_expired_certificate(old_ca: CertifiedKey) -> None:
    leaf = _leaf(old_ca, now=NOW - 800 * DAY)
    with pytest.raises(CertificateExpiredError) as info:
        validate_certificate(leaf, [old_ca.certificate], purpose=CLIENT)
    assert info.value.code == "HG-4004"
    assert info.value.detail["subject"] == leaf.subject.rfc4514_string()
    assert info.value.detail["not_after"] == leaf.not_valid_after_utc.isoformat()


def test_not_yet_valid_certificate(dev_ca: CertifiedKey, anchors: tuple[x509.Certificate, ...]) -> None:
    leaf = _leaf(dev_ca, now=NOW + 3 * DAY)
    with pytest.raises(CertificateNotYetValidError) as info:
        validate_certificate(leaf, anchors, purpose=CLIENT)
    assert info.value.code == "HG-4005"
    assert info.value.detail["not_before"] == leaf.not_valid_before_utc.isoformat()
    # The same certificate is fine once its time has come.
    validate_certificate(leaf, anchors, purpose=CLIENT, now=NOW + 4 * DAY)


def test_certificate_from_an_unrelated_ca_is_untrusted(
    other_ca: CertifiedKey, anchors: tuple[x509.Certificate, ...]
) -> None:
    leaf = _leaf(other_ca)
    with pytest.raises(UntrustedCertificateError) as info:
        validate_certificate(leaf, anchors, purpose=CLIENT)
    assert info.value.code == "HG-4006"
    assert info.value.detail["issuer"] == other_ca.certificate.subject.rfc4514_string()
    assert info.value.detail["reason"]


def test_expired_and_untrusted_is_reported_as_untrusted(
    other_ca: CertifiedKey, anchors: tuple[x509.Certificate, ...]
) -> None:
    leaf = _leaf(other_ca, now=NOW - 800 * DAY)
    with pytest.raises(UntrustedCertificateError):
        validate_certificate(leaf, anchors, purpose=CLIENT)


def test_empty_trust_bundle_trusts_nothing(layout: DevPkiLayout) -> None:
    with pytest.raises(UntrustedCertificateError):
        validate_certificate(load_certificate(layout.certificate(CLIENT)), [])


def test_certificate_expiring_in_ten_days_validates_with_a_warning(old_ca: CertifiedKey) -> None:
    leaf = _leaf(old_ca, now=NOW - 720 * DAY, valid_for=730 * DAY)
    anchors = [old_ca.certificate]
    result = validate_certificate(leaf, anchors, purpose=CLIENT, now=NOW)
    assert [w.subject for w in result.warnings] == [leaf.subject.rfc4514_string()]
    assert result.warnings[0].days_left in (9, 10)
    assert result.warnings[0].not_after == leaf.not_valid_after_utc
    assert "expires" in str(result.warnings[0])
    quiet = validate_certificate(leaf, anchors, purpose=CLIENT, now=NOW, warn_within=5 * DAY)
    assert quiet.warnings == ()


def test_expiry_warnings_cover_the_window_only(dev_ca: CertifiedKey) -> None:
    soon = _leaf(dev_ca, now=NOW - 710 * DAY, valid_for=730 * DAY)
    later = _leaf(dev_ca, now=NOW - 690 * DAY, valid_for=730 * DAY)
    warnings = expiry_warnings([soon, later, soon], now=NOW)
    assert [w.not_after for w in warnings] == [soon.not_valid_after_utc]
    assert len(expiry_warnings([soon, later], now=NOW, within=45 * DAY)) == 2


def _intermediate(root: CertifiedKey, *, now: dt.datetime, valid_for: dt.timedelta) -> CertifiedKey:
    key = new_rsa_key()
    root_ski = root.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Test Intermediate CA")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + valid_for)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski), critical=False
        )
        .sign(root.private_key, hashes.SHA256())
    )
    return CertifiedKey(certificate=certificate, private_key=key)


def test_chain_through_an_intermediate_and_its_expiry() -> None:
    root = create_ca(common_name="Chain Root", now=NOW - 400 * DAY)
    intermediate = _intermediate(root, now=NOW - 400 * DAY, valid_for=365 * DAY)
    leaf = _leaf(intermediate, now=NOW - 300 * DAY, valid_for=730 * DAY)
    earlier = NOW - 100 * DAY
    result = validate_certificate(
        leaf, [root.certificate], intermediates=[intermediate.certificate], now=earlier
    )
    assert result.chain == (leaf, intermediate.certificate, root.certificate)
    with pytest.raises(UntrustedCertificateError):
        validate_certificate(leaf, [root.certificate], now=earlier)
    # Today the intermediate is past its notAfter, and so is the leaf (never issued beyond its CA); the
    # error names the first certificate of the chain that is out of date.
    with pytest.raises(CertificateExpiredError) as info:
        validate_certificate(leaf, [root.certificate], intermediates=[intermediate.certificate])
    assert info.value.detail["subject"] == leaf.subject.rfc4514_string()
