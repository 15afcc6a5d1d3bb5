"""The attack set: each crafted from a correctly signed message in code, each refused with its own error."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable

import pytest
from lxml import etree

from gateway.security import (
    DigestAlgorithm,
    IssuerConfig,
    OutboundSecurity,
    PartnerSecurityOptions,
    SignatureAlgorithm,
    XuaAttribute,
    security_fault,
)
from tests.gateway.security.conftest import AUDIENCE, HOME, Pki, Signer, body_element, make_user
from xca import errors, ns
from xca.ns import q
from xca.soap import Action, Addressing, FaultCode, build_envelope

WSSE = ns.WSSE
EXT = "urn:example:extension"
Mutation = Callable[[etree._Element], None]


def _tree(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def _security(root: etree._Element) -> etree._Element:
    found = root.find(f"{q(ns.SOAP12, 'Header')}/{q(WSSE, 'Security')}")
    assert found is not None
    return found


def _header(root: etree._Element) -> etree._Element:
    found = root.find(q(ns.SOAP12, "Header"))
    assert found is not None
    return found


def _assertion(root: etree._Element) -> etree._Element:
    found = _security(root).find(q(ns.SAML2, "Assertion"))
    assert found is not None
    return found


def _attribute_value(assertion: etree._Element, name: XuaAttribute) -> etree._Element:
    for attribute in assertion.iter(q(ns.SAML2, "Attribute")):
        if attribute.get("Name") == name.value:
            value = attribute.find(q(ns.SAML2, "AttributeValue"))
            assert value is not None
            return value
    raise AssertionError(name)


def _forged(original: etree._Element, new_id: str | None) -> etree._Element:
    forged = copy.deepcopy(original)
    if new_id is not None:
        forged.set("ID", new_id)
    _attribute_value(forged, XuaAttribute.SUBJECT_ID).text = "Mallory"
    return forged


def moved(root: etree._Element) -> None:
    """The signed assertion goes into a header extension; a forged one (copied signature) takes its place."""
    security, original = _security(root), _assertion(root)
    index = security.index(original)
    etree.SubElement(_header(root), q(EXT, "Stash")).append(original)
    security.insert(index, _forged(original, "_forged"))


def duplicated(root: etree._Element) -> None:
    security, original = _security(root), _assertion(root)
    security.insert(security.index(original), _forged(original, "_forged"))


def wrapped(root: etree._Element) -> None:
    """The signed assertion inside an extension element of the Security header, a forgery beside it."""
    security, original = _security(root), _assertion(root)
    index = security.index(original)
    etree.SubElement(security, q(EXT, "Extension")).append(original)
    security.insert(index, _forged(original, "_forged"))


def duplicate_assertion_id(root: etree._Element) -> None:
    """The forgery keeps the original ID; the original is stashed, so the reference could mean either."""
    security, original = _security(root), _assertion(root)
    index = security.index(original)
    etree.SubElement(_header(root), q(EXT, "Stash")).append(original)
    security.insert(index, _forged(original, None))


def duplicate_body_id(root: etree._Element) -> None:
    body = root.find(q(ns.SOAP12, "Body"))
    assert body is not None
    decoy = etree.SubElement(_header(root), q(EXT, "Decoy"))
    decoy.set(q(ns.WSU, "Id"), body.get(q(ns.WSU, "Id"), ""))


def body_moved(root: etree._Element) -> None:
    """The signed Body is stashed in a header extension; a new Body with other content takes its place."""
    body = root.find(q(ns.SOAP12, "Body"))
    assert body is not None
    stash = etree.SubElement(_header(root), q(EXT, "Stash"))
    root.remove(body)
    stash.append(body)
    evil = etree.SubElement(root, q(ns.SOAP12, "Body"))
    etree.SubElement(evil, "{urn:ihe:iti:xds-b:2007}RetrieveDocumentSetRequest").text = "evil"


def comment_in_name_id(root: etree._Element) -> None:
    name_id = _assertion(root).find(f"{q(ns.SAML2, 'Subject')}/{q(ns.SAML2, 'NameID')}")
    assert name_id is not None
    name_id.text = "admin@clinic.example"
    name_id.append(etree.Comment("x"))
    name_id[-1].tail = ".evil.example"


def unsigned_assertion(root: etree._Element) -> None:
    assertion = _assertion(root)
    signature = assertion.find(q(ns.DS, "Signature"))
    assert signature is not None
    assertion.remove(signature)


def tampered_body(root: etree._Element) -> None:
    for element in root.find(q(ns.SOAP12, "Body")).iter():  # type: ignore[union-attr]
        if element.text == "query":
            element.text = "other patient"


def tampered_attribute(root: etree._Element) -> None:
    _attribute_value(_assertion(root), XuaAttribute.PURPOSE_OF_USE)[0].set("code", "EMERGENCY")


def tampered_timestamp(root: etree._Element) -> None:
    expires = _security(root).find(f"{q(ns.WSU, 'Timestamp')}/{q(ns.WSU, 'Expires')}")
    assert expires is not None
    expires.text = "2099-01-01T00:00:00.000Z"


def other_token_reference(root: etree._Element) -> None:
    identifier = _security(root).find(f".//{q(WSSE, 'KeyIdentifier')}")
    assert identifier is not None
    identifier.text = "_someone-else"


def second_security_header(root: etree._Element) -> None:
    etree.SubElement(_header(root), q(WSSE, "Security"))


MUTATIONS: list[tuple[Mutation, type[errors.SecurityRefusedError]]] = [
    (moved, errors.SignatureWrappingError),
    (duplicated, errors.SignatureWrappingError),
    (wrapped, errors.SignatureWrappingError),
    (duplicate_assertion_id, errors.DuplicateIdError),
    (duplicate_body_id, errors.DuplicateIdError),
    (body_moved, errors.SignatureWrappingError),
    (comment_in_name_id, errors.CommentInjectionError),
    (unsigned_assertion, errors.UnsignedAssertionError),
    (tampered_body, errors.DigestMismatchError),
    (tampered_attribute, errors.DigestMismatchError),
    (tampered_timestamp, errors.DigestMismatchError),
    (other_token_reference, errors.HolderOfKeyError),
    (second_security_header, errors.SecurityHeaderError),
]


@pytest.mark.parametrize(("mutate", "expected"), MUTATIONS, ids=[m.__name__ for m, _ in MUTATIONS])
def test_crafted_message_is_refused(
    sign: Signer,
    verifier: Callable[..., object],
    mutate: Mutation,
    expected: type[errors.SecurityRefusedError],
) -> None:
    root = _tree(sign())
    mutate(root)
    with pytest.raises(expected) as caught:
        verifier().verify(etree.tostring(root))  # type: ignore[attr-defined]
    assert caught.value.code == expected.code
    fault = security_fault(caught.value)
    assert fault.code is FaultCode.SENDER
    assert fault.subcodes == (expected.fault_subcode.value,)
    assert "Mallory" not in str(caught.value)
    assert "PAT-1" not in str(caught.value)


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE soap:Envelope [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
"""


@pytest.mark.parametrize(
    ("prolog", "entity", "expected"),
    [(XXE, b"&xxe;", errors.XmlExternalEntityError), (LAUGHS, b"&c;", errors.XmlEntityDeclarationError)],
    ids=["xxe", "entity-expansion"],
)
def test_dtd_attacks_refused_by_the_parser(
    sign: Signer, verifier: Callable[..., object], prolog: bytes, entity: bytes, expected: type[Exception]
) -> None:
    signed = sign()
    body_start = signed.index(b"<soap:Envelope")
    data = prolog + signed[body_start:].replace(b">query<", b">" + entity + b"<")
    with pytest.raises(expected) as caught:
        verifier().verify(data)  # type: ignore[attr-defined]
    fault = security_fault(caught.value)  # type: ignore[arg-type]
    assert fault.subcodes == (errors.WsseFault.INVALID_SECURITY.value,)


def test_expired_assertion(sign: Signer, verifier: Callable[..., object]) -> None:
    data = sign(now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=11))
    with pytest.raises(errors.AssertionExpiredError):
        verifier().verify(data)  # type: ignore[attr-defined]


def test_not_yet_valid_assertion(sign: Signer, verifier: Callable[..., object]) -> None:
    data = sign(now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6))
    with pytest.raises(errors.AssertionNotYetValidError):
        verifier().verify(data)  # type: ignore[attr-defined]


def test_expired_timestamp(sign: Signer, verifier: Callable[..., object]) -> None:
    options = PartnerSecurityOptions(
        assertion_lifetime=dt.timedelta(hours=1), timestamp_lifetime=dt.timedelta(minutes=1)
    )
    data = sign(now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=7), options=options)
    with pytest.raises(errors.TimestampExpiredError) as caught:
        verifier().verify(data)  # type: ignore[attr-defined]
    assert caught.value.fault_subcode is errors.WsseFault.MESSAGE_EXPIRED


def test_not_yet_valid_timestamp(pki: Pki, verifier: Callable[..., object]) -> None:
    """A Timestamp created in the future (beyond the skew) next to a valid assertion."""
    now = dt.datetime.now(dt.UTC)
    options = PartnerSecurityOptions(assertion_lifetime=dt.timedelta(hours=1))
    security = OutboundSecurity(IssuerConfig("CN=x", HOME), pki.signing)
    assertion_step, _ = security.steps(user=make_user(), options=options, now=now - dt.timedelta(minutes=1))
    _, signature_step = security.steps(user=make_user(), options=options, now=now + dt.timedelta(minutes=10))
    addressing = Addressing.request(Action.ITI39_REQUEST, to=AUDIENCE)
    envelope = signature_step(assertion_step(build_envelope(body_element(), addressing)))
    with pytest.raises(errors.TimestampNotYetValidError):
        verifier(now=now).verify(etree.tostring(envelope))  # type: ignore[attr-defined]


def test_wrong_audience(sign: Signer, verifier: Callable[..., object]) -> None:
    with pytest.raises(errors.AudienceMismatchError):
        verifier().verify(sign(to="https://someone-else.example/xca"))  # type: ignore[attr-defined]


def test_untrusted_ca(sign: Signer, verifier: Callable[..., object], pki: Pki) -> None:
    with pytest.raises(errors.SignerUntrustedError):
        verifier().verify(sign(identity=pki.rogue))  # type: ignore[attr-defined]


def test_expired_certificate(sign: Signer, verifier: Callable[..., object], pki: Pki) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    with pytest.raises(errors.SignerCertificateExpiredError):
        verifier(now=later).verify(sign(identity=pki.expired, now=later))  # type: ignore[attr-defined]


def test_replayed_message(sign: Signer, verifier: Callable[..., object]) -> None:
    data = sign()
    checker = verifier()
    checker.verify(data)  # type: ignore[attr-defined]
    with pytest.raises(errors.ReplayedMessageError) as caught:
        checker.verify(data)  # type: ignore[attr-defined]
    assert caught.value.detail == {"kind": "assertion"}


def test_sha1_refused_unless_configured(sign: Signer, verifier: Callable[..., object]) -> None:
    options = PartnerSecurityOptions(
        signature_algorithm=SignatureAlgorithm.RSA_SHA1,
        digest_algorithm=DigestAlgorithm.SHA1,
        allow_sha1=True,
    )
    data = sign(options=options)
    with pytest.raises(errors.UnsupportedAlgorithmError) as caught:
        verifier().verify(data)  # type: ignore[attr-defined]
    assert caught.value.fault_subcode is errors.WsseFault.UNSUPPORTED_ALGORITHM
    assert verifier(allow_sha1=True).verify(data).assertion.claims.npi == "1234567893"  # type: ignore[attr-defined]


def test_message_signed_by_another_key(pki: Pki, verifier: Callable[..., object]) -> None:
    """A stolen assertion presented by someone who does not hold its confirmed key."""
    now = dt.datetime.now(dt.UTC)
    security = OutboundSecurity(IssuerConfig("CN=x", HOME), pki.signing, clock=lambda: now)
    thief = OutboundSecurity(IssuerConfig("CN=x", HOME), pki.rogue, clock=lambda: now)
    assertion_step, _ = security.steps(user=make_user(), options=PartnerSecurityOptions(), now=now)
    _, signature_step = thief.steps(user=make_user(), options=PartnerSecurityOptions(), now=now)
    envelope = signature_step(
        assertion_step(build_envelope(body_element(), Addressing.request(Action.ITI39_REQUEST, to=AUDIENCE)))
    )
    with pytest.raises(errors.SignatureInvalidError):
        verifier().verify(etree.tostring(envelope))  # type: ignore[attr-defined]
