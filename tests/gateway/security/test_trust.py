"""The trust store's cache of validated chains: a cached success never stands in for a refusal."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from certs import CertificatePurpose, create_ca, issue_certified_key
from gateway.security import TrustStore
from tests.gateway.security.conftest import NOW, Pki
from xca import errors


@pytest.fixture
def store(pki: Pki) -> TrustStore:
    # a store of its own: the session-wide one may already hold these certificates
    return TrustStore.from_pem_file(pki.layout.trust_bundle)


def test_expired_certificate_refused_after_a_cached_success(store: TrustStore, pki: Pki) -> None:
    chain = store.validate(pki.expired.certificate, now=NOW)
    assert chain[0] == pki.expired.certificate
    assert store.validate(pki.expired.certificate, now=NOW) == chain  # served from the cache
    with pytest.raises(errors.SignerCertificateExpiredError):
        store.validate(pki.expired.certificate, now=NOW + dt.timedelta(days=2))
    # the refusal did not evict or spoil the entry for times when the certificate is valid
    assert store.validate(pki.expired.certificate, now=NOW) == chain


def test_not_yet_valid_certificate_refused_after_a_cached_success(store: TrustStore, pki: Pki) -> None:
    store.validate(pki.signing.certificate, now=NOW)
    with pytest.raises(errors.SignerCertificateNotYetValidError):
        store.validate(pki.signing.certificate, now=NOW - dt.timedelta(days=30))


def test_stores_do_not_share_their_caches(store: TrustStore, pki: Pki) -> None:
    other_ca = create_ca(common_name="Other Root CA", now=NOW)
    other = TrustStore(anchors=(other_ca.certificate,))
    store.validate(pki.signing.certificate, now=NOW)
    with pytest.raises(errors.SignerUntrustedError):
        other.validate(pki.signing.certificate, now=NOW)
    stranger = issue_certified_key(other_ca, CertificatePurpose.SIGNING, common_name="stranger", now=NOW)
    other.validate(stranger.certificate, now=NOW)
    with pytest.raises(errors.SignerUntrustedError):
        store.validate(stranger.certificate, now=NOW)


def test_failures_are_not_cached(store: TrustStore, pki: Pki) -> None:
    with pytest.raises(errors.SignerUntrustedError):
        store.validate(pki.rogue.certificate, now=NOW)
    with pytest.raises(errors.SignerUntrustedError):
        store.validate(pki.rogue.certificate, now=NOW)


def test_anchors_and_purpose_cannot_change_under_the_cache(store: TrustStore, pki: Pki) -> None:
    store.validate(pki.signing.certificate, now=NOW)
    with pytest.raises(dataclasses.FrozenInstanceError):
        store.anchors = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        store.purpose = None  # type: ignore[misc]
