"""SHA-1 inbound, per partner: a message signed with RSA-SHA1 or SHA-1 digests is accepted only when the
community its assertion names is allowed SHA-1 (the partners file's ``allow_sha1``), and refused as before
(``wsse:UnsupportedAlgorithm``) from everyone else, before its SHA-1 signature is even verified."""

from __future__ import annotations

import base64
import copy
import datetime as dt
from collections.abc import Callable

import pytest
from lxml import etree

from gateway.security import (
    DigestAlgorithm,
    IssuerConfig,
    MessageVerifier,
    OutboundSecurity,
    PartnerSecurityOptions,
    SignatureAlgorithm,
    VerificationPolicy,
    XuaAttribute,
)
from tests.gateway.security.conftest import AUDIENCE, HOME, Pki, Signer, body_element, make_user
from xca import errors, ns
from xca.ns import q
from xca.soap import Action, Addressing, build_envelope

OTHER = "1.3.6.1.4.1.99999.77"
SHA1 = PartnerSecurityOptions(
    signature_algorithm=SignatureAlgorithm.RSA_SHA1, digest_algorithm=DigestAlgorithm.SHA1, allow_sha1=True
)
Verifier = Callable[..., MessageVerifier]


def _refused_as_sha1(verifier: MessageVerifier, data: bytes) -> None:
    with pytest.raises(errors.UnsupportedAlgorithmError) as caught:
        verifier.verify(data)
    assert caught.value.fault_subcode is errors.WsseFault.UNSUPPORTED_ALGORITHM
    assert caught.value.detail == {"algorithm": "SHA-1"}


@pytest.mark.parametrize(
    ("policy", "accepted"),
    [
        ({}, False),
        ({"sha1_partners": {HOME: True}}, True),
        ({"sha1_partners": {OTHER: True}}, False),  # another partner's permission is not this one's
        ({"allow_sha1": True}, True),  # the defaults: every community not listed
        ({"allow_sha1": True, "sha1_partners": {HOME: False}}, False),  # listed without it
        ({"allow_sha1": True, "sha1_partners": {OTHER: False}}, True),
    ],
)
def test_sha1_is_accepted_from_the_partners_allowed_it(
    sign: Signer, verifier: Verifier, policy: dict[str, object], accepted: bool
) -> None:
    data = sign(options=SHA1)  # its assertion names HOME as the sender's community
    checker = verifier(**policy)
    if accepted:
        assert checker.verify(data).assertion.claims.home_community_id == HOME
    else:
        _refused_as_sha1(checker, data)


def test_sha256_is_accepted_whatever_sha1_permissions_say(sign: Signer, verifier: Verifier) -> None:
    data = sign()
    assert verifier(allow_sha1=True, sha1_partners={HOME: False}).verify(data).assertion.id


def test_a_partner_not_allowed_sha1_is_refused_before_its_signature_is_checked(
    sign: Signer, verifier: Verifier
) -> None:
    """A SHA-1 assertion signature from a community without the permission is never verified: a broken
    signature is refused for its algorithm, not for its value (no SHA-1 computation on its behalf)."""
    root = etree.fromstring(sign(options=SHA1))
    value = root.find(f".//{q(ns.SAML2, 'Assertion')}/{q(ns.DS, 'Signature')}/{q(ns.DS, 'SignatureValue')}")
    assert value is not None
    assert value.text
    broken = bytearray(base64.b64decode(value.text))
    broken[0] ^= 0xFF
    value.text = base64.b64encode(bytes(broken)).decode()
    data = etree.tostring(root)
    _refused_as_sha1(verifier(sha1_partners={OTHER: True}), data)
    with pytest.raises(errors.SignatureInvalidError):  # the partner allowed it gets its signature checked
        verifier(sha1_partners={HOME: True}).verify(data)


def _mixed(pki: Pki, assertion: PartnerSecurityOptions, message: PartnerSecurityOptions) -> bytes:
    """The assertion signed with one partner's algorithms, the message with another's."""
    now = dt.datetime.now(dt.UTC)
    security = OutboundSecurity(IssuerConfig("CN=x", HOME), pki.signing, clock=lambda: now)
    assertion_step, _ = security.steps(user=make_user(), options=assertion, now=now)
    _, signature_step = security.steps(user=make_user(), options=message, now=now)
    envelope = signature_step(
        assertion_step(build_envelope(body_element(), Addressing.request(Action.ITI39_REQUEST, to=AUDIENCE)))
    )
    return etree.tostring(envelope)


@pytest.mark.parametrize("sha1_part", ["assertion", "message"])
def test_each_signature_is_held_to_the_permission(pki: Pki, verifier: Verifier, sha1_part: str) -> None:
    """SHA-1 in either signature alone: the assertion's signature, or the holder-of-key message signature
    (checked once the verified assertion has named the community)."""
    sha256 = PartnerSecurityOptions()
    data = _mixed(pki, SHA1, sha256) if sha1_part == "assertion" else _mixed(pki, sha256, SHA1)
    _refused_as_sha1(verifier(sha1_partners={OTHER: True}), data)
    assert verifier(sha1_partners={HOME: True}).verify(data).assertion.claims.home_community_id == HOME


def test_permissions_are_keyed_by_bare_oids() -> None:
    with pytest.raises(errors.ConfigError):
        VerificationPolicy(audiences=frozenset({AUDIENCE}), sha1_partners={f"urn:oid:{HOME}": True})


@pytest.mark.parametrize("claim", ["value repeated", "attribute repeated", "not an OID"])
def test_a_claim_that_cannot_be_read_gets_sha1_only_where_everyone_does(
    sign: Signer, verifier: Verifier, claim: str
) -> None:
    """SHA-1 allowed by default but refused to HOME: an assertion whose homeCommunityId cannot be read
    (repeated, malformed) must not reach the defaults' permission and have its SHA-1 signature verified."""
    root = etree.fromstring(sign(options=SHA1))
    name = XuaAttribute.HOME_COMMUNITY_ID.value
    attribute = next(a for a in root.iter(q(ns.SAML2, "Attribute")) if a.get("Name") == name)
    value = attribute.find(q(ns.SAML2, "AttributeValue"))
    assert value is not None
    if claim == "value repeated":
        attribute.append(copy.deepcopy(value))
    elif claim == "attribute repeated":
        attribute.addnext(copy.deepcopy(attribute))
    else:
        value.text = f"urn:oid:{HOME} x"
    data = etree.tostring(root)
    _refused_as_sha1(verifier(allow_sha1=True, sha1_partners={HOME: False}), data)
    with pytest.raises(errors.SecurityRefusedError) as caught:  # SHA-1 from everyone: verified, then refused
        verifier(allow_sha1=True).verify(data)
    assert not isinstance(caught.value, errors.UnsupportedAlgorithmError)
