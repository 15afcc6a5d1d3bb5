"""Inbound policy options beyond the attack set: unsigned Body, required attributes, TLS binding, replay."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

import pytest

from gateway.security import InMemoryReplayCache, PartnerSecurityOptions, ReplayKind, XuaAttribute
from tests.gateway.security.conftest import Pki, Signer
from xca import errors


def test_unsigned_body_refused_by_default_allowed_by_policy(
    sign: Signer, verifier: Callable[..., object]
) -> None:
    data = sign(options=PartnerSecurityOptions(sign_body=False))
    with pytest.raises(errors.UnsignedBodyError):
        verifier().verify(data)  # type: ignore[attr-defined]
    verified = verifier(require_signed_body=False).verify(data)  # type: ignore[attr-defined]
    assert not verified.body_signed


def test_required_attribute_missing(sign: Signer, verifier: Callable[..., object]) -> None:
    from tests.gateway.security.conftest import make_user

    data = sign(user=make_user(npi=None))
    strict = verifier(required_attributes=frozenset({XuaAttribute.NPI}))
    with pytest.raises(errors.XuaAttributeMissingError) as caught:
        strict.verify(data)  # type: ignore[attr-defined]
    assert caught.value.detail == {"attribute": XuaAttribute.NPI.value}


def test_tls_peer_binding(sign: Signer, verifier: Callable[..., object], pki: Pki) -> None:
    from certs import CertificatePurpose, load_certificate

    client = load_certificate(pki.layout.certificate(CertificatePurpose.TLS_CLIENT))
    bound = verifier(require_signer_matches_tls_peer=True)
    assert bound.verify(sign(), tls_peer_certificate=client).tls_peer_certificate == client  # type: ignore[attr-defined]
    with pytest.raises(errors.TlsPeerMismatchError):
        bound.verify(sign(), tls_peer_certificate=pki.rogue.certificate)  # type: ignore[attr-defined]
    with pytest.raises(errors.TlsPeerMismatchError):
        bound.verify(sign())  # type: ignore[attr-defined]


def test_replay_cache_expires_entries_and_is_atomic() -> None:
    cache = InMemoryReplayCache()
    now = dt.datetime.now(dt.UTC)
    keys = [(ReplayKind.ASSERTION, "_a"), (ReplayKind.MESSAGE, "urn:uuid:1")]
    assert cache.check_and_store(keys, until=now + dt.timedelta(minutes=5), now=now) is None
    assert cache.check_and_store([(ReplayKind.MESSAGE, "urn:uuid:1")], until=now, now=now) == keys[1]
    # nothing of a refused call is stored
    assert cache.check_and_store([(ReplayKind.ASSERTION, "_b"), keys[0]], until=now, now=now) == keys[0]
    assert cache.check_and_store([(ReplayKind.ASSERTION, "_b")], until=now + dt.timedelta(1), now=now) is None
    later = now + dt.timedelta(minutes=6)
    assert cache.check_and_store(keys, until=later + dt.timedelta(minutes=5), now=later) is None


def test_replay_cache_threads() -> None:
    cache = InMemoryReplayCache()
    now = dt.datetime.now(dt.UTC)
    wins: list[int] = []

    def attempt(index: int) -> None:
        if (
            cache.check_and_store([(ReplayKind.ASSERTION, "_same")], until=now + dt.timedelta(1), now=now)
            is None
        ):
            wins.append(index)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1


def test_policy_needs_an_audience() -> None:
    from gateway.security import VerificationPolicy

    with pytest.raises(errors.ConfigError):
        VerificationPolicy(audiences=frozenset())


def test_no_phi_in_logs_even_at_debug(
    sign: Signer, verifier: Callable[..., object], caplog: pytest.LogCaptureFixture
) -> None:
    """signxml logs canonicalized XML at DEBUG; the patient id inside must not reach ordinary logs."""
    caplog.set_level(logging.DEBUG)
    data = sign()
    assert b"PAT-1" in data
    verifier().verify(data)  # type: ignore[attr-defined]
    assert not any("PAT-1" in record.getMessage() for record in caplog.records)
    # The hazard is real: with the pin lifted, signxml's DEBUG output carries the patient id.
    caplog.set_level(logging.DEBUG, logger="signxml")
    verifier().verify(sign())  # type: ignore[attr-defined]
    assert any("PAT-1" in record.getMessage() for record in caplog.records)
