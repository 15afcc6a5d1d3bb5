"""Our outgoing signatures (:mod:`gateway.security.xmlsign`) are signxml's, byte for byte.

RSA PKCS#1 v1.5 signatures are deterministic, so the same tree, key and algorithms must give the same
serialized result through stock signxml (the reference) and through our signer, for each signature and
digest algorithm a partner can be configured with; anything else (a digest over other bytes, another
SignedInfo layout, a misplaced KeyInfo) shows as a difference. That the result verifies with xmlsec1 is
``test_xmlsec1.py``'s; that our responder accepts it, ``test_verify.py``'s.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, SignatureConstructionMethod
from signxml.signer import XMLSigner

from gateway.security import DigestAlgorithm, PartnerSecurityOptions, SignatureAlgorithm
from gateway.security.saml import build_assertion
from gateway.security.wss import add_timestamp, ensure_security_header, sign_assertion, sign_message
from gateway.security.xmlsign import sign_detached, sign_enveloped
from tests.gateway.security.conftest import AUDIENCE, Pki, assertion_spec, body_element, make_user
from xca import ns
from xca.errors import SigningError
from xca.ns import q
from xca.soap import Action, Addressing, build_envelope

NOW = dt.datetime(2026, 11, 21, 12, 0, 0, tzinfo=dt.UTC)
WSU_ID = q(ns.WSU, "Id")
PAIRS = list(itertools.product(SignatureAlgorithm, DigestAlgorithm))


class _Reference(XMLSigner):
    """Stock signxml; SHA-1 allowed, as our signer allows it for a partner configured with allow_sha1."""

    def check_deprecated_methods(self) -> None:
        return None


def _reference(
    method: SignatureConstructionMethod, sig: SignatureAlgorithm, dig: DigestAlgorithm
) -> XMLSigner:
    return _Reference(
        method=method,
        signature_algorithm=sig.value,
        digest_algorithm=dig.value,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )


def _assertion(pki: Pki) -> etree._Element:
    return build_assertion(make_user(), assertion_spec(pki, NOW))


def _key_info(pki: Pki) -> etree._Element:
    key_info = etree.Element(q(ns.DS, "KeyInfo"), nsmap={"ds": ns.DS})
    etree.SubElement(
        etree.SubElement(key_info, q(ns.DS, "X509Data")), q(ns.DS, "X509Certificate")
    ).text = "MIIB"
    return key_info


@pytest.mark.parametrize(("sig", "dig"), PAIRS, ids=lambda a: a.name)
def test_enveloped_signature_is_signxmls(pki: Pki, sig: SignatureAlgorithm, dig: DigestAlgorithm) -> None:
    assertion = _assertion(pki)
    before = etree.tostring(assertion)
    ours = sign_enveloped(
        assertion,
        key=pki.signing.private_key,
        key_info=_key_info(pki),
        signature_algorithm=sig,
        digest_algorithm=dig,
        allow_sha1=True,
    )
    theirs = _reference(SignatureConstructionMethod.enveloped, sig, dig).sign(
        copy.deepcopy(assertion), key=pki.signing.private_key, key_info=_key_info(pki)
    )
    assert etree.tostring(ours) == etree.tostring(theirs)
    assert etree.tostring(assertion) == before  # the input is left as it was


def test_enveloped_signature_keeps_the_text_around_the_placeholder(pki: Pki) -> None:
    """Pretty-printed input: the enveloped-signature transform drops the Signature element only, so the
    whitespace after it stays in what is digested (signxml does the same), wherever the placeholder is."""
    for position in (0, 1):
        assertion = _assertion(pki)
        placeholder = _placeholder(assertion)
        assertion.remove(placeholder)
        assertion.insert(position, placeholder)
        etree.indent(assertion)
        ours = sign_enveloped(assertion, key=pki.signing.private_key, key_info=_key_info(pki))
        theirs = _reference(
            SignatureConstructionMethod.enveloped, SignatureAlgorithm.RSA_SHA256, DigestAlgorithm.SHA256
        ).sign(copy.deepcopy(assertion), key=pki.signing.private_key, key_info=_key_info(pki))
        assert etree.tostring(ours) == etree.tostring(theirs)


def _envelope_with_timestamp() -> tuple[etree._Element, etree._Element, etree._Element]:
    envelope = build_envelope(body_element(), Addressing.request(Action.ITI39_REQUEST, to=AUDIENCE))
    security = ensure_security_header(envelope)
    timestamp = add_timestamp(security, created=NOW, lifetime=dt.timedelta(minutes=5))
    etree.cleanup_namespaces(envelope, top_nsmap={"wsu": ns.WSU}, keep_ns_prefixes=["wsu"])
    body = envelope.find(q(ns.SOAP12, "Body"))
    assert body is not None
    body.set(WSU_ID, "Body-1")
    return envelope, timestamp, body


@pytest.mark.parametrize(("sig", "dig"), PAIRS, ids=lambda a: a.name)
def test_detached_signature_is_signxmls(pki: Pki, sig: SignatureAlgorithm, dig: DigestAlgorithm) -> None:
    envelope, timestamp, body = _envelope_with_timestamp()
    before = etree.tostring(envelope)
    ours = sign_detached(
        [timestamp, body],
        key=pki.signing.private_key,
        key_info=_key_info(pki),
        id_attribute=WSU_ID,
        signature_algorithm=sig,
        digest_algorithm=dig,
        allow_sha1=True,
    )
    assert etree.tostring(envelope) == before
    theirs = _reference(SignatureConstructionMethod.detached, sig, dig).sign(
        envelope,
        key=pki.signing.private_key,
        reference_uri=[f"#{timestamp.get(WSU_ID)}", "#Body-1"],
        key_info=_key_info(pki),
    )
    assert etree.tostring(ours) == etree.tostring(theirs)


def test_whole_request_matches_signxml_signing_it(pki: Pki) -> None:
    """The WS-Security functions the gateway sends with: the assertion and the message signature."""
    options = PartnerSecurityOptions()
    assertion = _assertion(pki)
    signed = sign_assertion(assertion, identity=pki.signing, options=options)
    reference = _reference(
        SignatureConstructionMethod.enveloped, options.signature_algorithm, options.digest_algorithm
    ).sign(
        copy.deepcopy(assertion),
        key=pki.signing.private_key,
        key_info=copy.deepcopy(signed.find(f"{q(ns.DS, 'Signature')}/{q(ns.DS, 'KeyInfo')}")),
    )
    assert etree.tostring(signed) == etree.tostring(reference)
    envelope = build_envelope(body_element(), Addressing.request(Action.ITI39_REQUEST, to=AUDIENCE))
    ensure_security_header(envelope).append(signed)
    sign_message(envelope, identity=pki.signing, options=options, now=NOW)
    signatures = envelope.findall(
        f"{q(ns.SOAP12, 'Header')}/{q(ns.WSSE, 'Security')}/{q(ns.DS, 'Signature')}"
    )
    assert len(signatures) == 1
    ours = signatures[0]
    sent = etree.tostring(envelope)
    security = ours.getparent()
    assert security is not None
    index = security.index(ours)
    security.remove(ours)
    timestamp = envelope.find(f".//{q(ns.WSU, 'Timestamp')}")
    body = envelope.find(q(ns.SOAP12, "Body"))
    assert timestamp is not None
    assert body is not None
    theirs = _reference(
        SignatureConstructionMethod.detached, options.signature_algorithm, options.digest_algorithm
    ).sign(
        envelope,
        key=pki.signing.private_key,
        reference_uri=[f"#{timestamp.get(WSU_ID)}", f"#{body.get(WSU_ID)}"],
        key_info=copy.deepcopy(ours.find(q(ns.DS, "KeyInfo"))),
    )
    security.insert(index, theirs)
    assert etree.tostring(envelope) == sent


@pytest.mark.parametrize(
    ("sig", "dig"),
    [
        (SignatureAlgorithm.RSA_SHA1, DigestAlgorithm.SHA256),
        (SignatureAlgorithm.RSA_SHA256, DigestAlgorithm.SHA1),
    ],
)
def test_sha1_needs_the_partner_to_allow_it(pki: Pki, sig: SignatureAlgorithm, dig: DigestAlgorithm) -> None:
    with pytest.raises(SigningError, match="allow_sha1"):
        sign_enveloped(
            _assertion(pki),
            key=pki.signing.private_key,
            key_info=_key_info(pki),
            signature_algorithm=sig,
            digest_algorithm=dig,
        )
    _, timestamp, _ = _envelope_with_timestamp()
    with pytest.raises(SigningError, match="allow_sha1"):
        sign_detached(
            [timestamp],
            key=pki.signing.private_key,
            key_info=_key_info(pki),
            id_attribute=WSU_ID,
            signature_algorithm=sig,
            digest_algorithm=dig,
        )


def _placeholder(assertion: etree._Element) -> etree._Element:
    placeholder = assertion.find(q(ns.DS, "Signature"))
    assert placeholder is not None
    return placeholder


def test_refusals_name_what_is_wrong(pki: Pki) -> None:
    key = pki.signing.private_key
    two = _assertion(pki)
    two.append(copy.deepcopy(_placeholder(two)))
    with pytest.raises(SigningError, match="exactly one ds:Signature placeholder"):
        sign_enveloped(two, key=key, key_info=_key_info(pki))
    none = _assertion(pki)
    none.remove(_placeholder(none))
    with pytest.raises(SigningError, match="exactly one ds:Signature placeholder"):
        sign_enveloped(none, key=key, key_info=_key_info(pki))
    filled = _assertion(pki)
    etree.SubElement(_placeholder(filled), q(ns.DS, "SignedInfo"))
    with pytest.raises(SigningError, match="placeholder is not empty"):
        sign_enveloped(filled, key=key, key_info=_key_info(pki))
    with pytest.raises(SigningError, match="not an RSA key"):
        sign_enveloped(_assertion(pki), key=ec.generate_private_key(ec.SECP256R1()), key_info=_key_info(pki))
    with pytest.raises(SigningError, match="has no ID"):
        sign_detached([etree.Element("x")], key=key, key_info=_key_info(pki), id_attribute=WSU_ID)
    with pytest.raises(SigningError, match="at least one reference"):
        sign_detached([], key=key, key_info=_key_info(pki), id_attribute=WSU_ID)
