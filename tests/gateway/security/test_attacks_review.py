"""Adversarial review of inbound verification: attacks that test_attacks.py does not already cover.

Three kinds of attacker:

* one who only holds a captured, validly signed message (no keys): every change must be refused with its own
  error, and a refused attempt must not burn the assertion for the real sender;
* a key holder (a partner with a trusted certificate) who signs whatever they like: the verifier's policy
  (timestamp window, reference targets, algorithms) must still hold;
* an issuer who signs odd assertion content: conditions, audiences and attributes are read strictly.

Four weaknesses it found (an EC key in KeyInfo escaping as NotImplementedError, KeyInfo padded with
thousands of certificates, instants at the ends of the calendar, non-ASCII role digits) are fixed; their
tests below now pass.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import hmac
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.signer import XMLSigner

from certs import CertificatePurpose, create_ca, issue_certified_key, load_certificate, load_private_key
from gateway.security import (
    AssertionInput,
    IssuerConfig,
    MessageVerifier,
    PartnerSecurityOptions,
    SigningIdentity,
    XuaAttribute,
    build_assertion,
    security_fault,
)
from gateway.security.saml import xml_datetime
from gateway.security.wss import SAMLID_VALUE_TYPE, ensure_security_header, sign_assertion, sign_message
from tests.gateway.security.conftest import AUDIENCE, HOME, Pki, Signer, body_element, make_user
from xca import errors, ns
from xca.ids import Cx
from xca.ns import q
from xca.soap import Action, Addressing, FaultCode, build_envelope

Verifiers = Callable[..., MessageVerifier]
Mutation = Callable[[etree._Element], None]

EXT = "urn:example:review"
DSIG11 = "http://www.w3.org/2009/xmldsig11#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
WSU_ID = q(ns.WSU, "Id")
XML_ID = q(ns.XML, "id")
ISSUER = IssuerConfig("CN=hie-gateway-dev,O=hie-gateway development", HOME)


# --- reading a message


def _tree(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def _find(root: etree._Element, path: str) -> etree._Element:
    found = root.find(path)
    assert found is not None, path
    return found


def _header(root: etree._Element) -> etree._Element:
    return _find(root, q(ns.SOAP12, "Header"))


def _body(root: etree._Element) -> etree._Element:
    return _find(root, q(ns.SOAP12, "Body"))


def _security(root: etree._Element) -> etree._Element:
    return _find(_header(root), q(ns.WSSE, "Security"))


def _assertion(root: etree._Element) -> etree._Element:
    return _find(_security(root), q(ns.SAML2, "Assertion"))


def _timestamp(root: etree._Element) -> etree._Element:
    return _find(_security(root), q(ns.WSU, "Timestamp"))


def _message_signature(root: etree._Element) -> etree._Element:
    return _find(_security(root), q(ns.DS, "Signature"))


def _assertion_signature(root: etree._Element) -> etree._Element:
    return _find(_assertion(root), q(ns.DS, "Signature"))


def _references(signature: etree._Element) -> list[etree._Element]:
    return signature.findall(f"{q(ns.DS, 'SignedInfo')}/{q(ns.DS, 'Reference')}")


def _attribute_value(assertion: etree._Element, name: XuaAttribute) -> etree._Element:
    for attribute in assertion.iter(q(ns.SAML2, "Attribute")):
        if attribute.get("Name") == name.value:
            return _find(attribute, q(ns.SAML2, "AttributeValue"))
    raise AssertionError(name)


def _b64(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


def _refused(
    verifier: MessageVerifier, data: bytes | etree._Element, expected: type[errors.SecurityRefusedError]
) -> errors.SecurityRefusedError:
    """Verify and demand exactly ``expected`` (not a subclass or a sibling) with its Sender fault."""
    payload = data if isinstance(data, bytes) else etree.tostring(data)
    with pytest.raises(errors.SecurityRefusedError) as caught:
        verifier.verify(payload)
    assert type(caught.value) is expected, f"{type(caught.value).__name__}: {caught.value}"
    fault = security_fault(caught.value)
    assert fault.code is FaultCode.SENDER
    assert fault.subcodes == (expected.fault_subcode.value,)
    assert "Mallory" not in str(caught.value)
    return caught.value


# --- crafting messages as an issuer or a key holder


def _envelope_with_assertion(
    pki: Pki,
    now: dt.datetime,
    *,
    edit: Mutation | None = None,
    issuer: SigningIdentity | None = None,
    holder: SigningIdentity | None = None,
    lifetime: dt.timedelta = dt.timedelta(minutes=5),
) -> etree._Element:
    """An envelope whose security header holds an assertion built by the project, changed by ``edit`` before
    ``issuer`` (default: the trusted signing identity) signs it."""
    spec = AssertionInput(
        issuer=ISSUER,
        audience=AUDIENCE,
        issue_instant=now,
        lifetime=lifetime,
        holder_certificate_der=(holder or pki.signing).certificate.public_bytes(Encoding.DER),
        resource_id=Cx("PAT-1", "1.3.6.1.4.1.99999.2"),
    )
    assertion = build_assertion(make_user(), spec)
    if edit is not None:
        edit(assertion)
    signed = sign_assertion(assertion, identity=issuer or pki.signing, options=PartnerSecurityOptions())
    envelope = build_envelope(body_element(), Addressing.request(Action.ITI39_REQUEST, to=AUDIENCE))
    ensure_security_header(envelope).append(signed)
    return envelope


def _issued(pki: Pki, now: dt.datetime, **kwargs: object) -> bytes:
    """A message whose assertion was crafted (see :func:`_envelope_with_assertion`), signed as usual."""
    envelope = _envelope_with_assertion(pki, now, **kwargs)  # type: ignore[arg-type]
    signed = sign_message(envelope, identity=pki.signing, options=PartnerSecurityOptions(), now=now)
    return etree.tostring(signed)


class _Sha1DigestSigner(XMLSigner):
    """Stock signxml refuses SHA-1 when signing; a hostile sender does not."""

    def check_deprecated_methods(self) -> None:
        return None


def _holder_signed(
    pki: Pki,
    envelope: etree._Element,
    *,
    created: str | None,
    expires: str | None,
    references: tuple[str, ...] = ("#TS-1", "#Body-1"),
    timestamp_id: str = "TS-1",
    digest: DigestAlgorithm = DigestAlgorithm.SHA256,
) -> bytes:
    """The holder-of-key message signature made with stock signxml over a Timestamp we write ourselves."""
    security = ensure_security_header(envelope)
    etree.cleanup_namespaces(envelope, top_nsmap={"wsu": ns.WSU}, keep_ns_prefixes=["wsu"])
    _body(envelope).set(WSU_ID, "Body-1")
    timestamp = etree.Element(q(ns.WSU, "Timestamp"))
    timestamp.set(WSU_ID, timestamp_id)
    if created is not None:
        etree.SubElement(timestamp, q(ns.WSU, "Created")).text = created
    if expires is not None:
        etree.SubElement(timestamp, q(ns.WSU, "Expires")).text = expires
    security.insert(0, timestamp)
    key_info = etree.Element(q(ns.DS, "KeyInfo"), nsmap={"ds": ns.DS})
    reference = etree.SubElement(key_info, q(ns.WSSE, "SecurityTokenReference"))
    identifier = etree.SubElement(reference, q(ns.WSSE, "KeyIdentifier"), ValueType=SAMLID_VALUE_TYPE)
    identifier.text = _find(security, q(ns.SAML2, "Assertion")).get("ID")
    signer = _Sha1DigestSigner(
        method=SignatureConstructionMethod.detached,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=digest,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signature = signer.sign(
        envelope, key=pki.signing.private_key, reference_uri=list(references), key_info=key_info
    )
    security.append(signature)
    return etree.tostring(envelope)


def _at(now: dt.datetime, minutes: float) -> str:
    return xml_datetime(now + dt.timedelta(minutes=minutes))


# --- 1. a captured message, changed without any key


def _decoy(root: etree._Element, attribute: str, value: str | None) -> None:
    decoy = etree.SubElement(_header(root), q(EXT, "Decoy"))
    decoy.set(attribute, value or "")


def assertion_id_on_wsu_id(root: etree._Element) -> None:
    """Same ID value, another attribute name (the resolver tries Id before ID)."""
    _decoy(root, WSU_ID, _assertion(root).get("ID"))


def assertion_id_on_foreign_namespace_ID(root: etree._Element) -> None:
    _decoy(root, q(EXT, "ID"), _assertion(root).get("ID"))


def timestamp_id_on_xml_id(root: etree._Element) -> None:
    _decoy(root, XML_ID, _timestamp(root).get(WSU_ID))


def body_id_on_lowercase_id(root: etree._Element) -> None:
    _decoy(root, "id", _body(root).get(WSU_ID))


def _swap_assertion(root: etree._Element, new_id: Callable[[str], str]) -> None:
    """The signed assertion goes into a header extension; a forgery (copied signature) with an ID that looks
    like the signed one takes its place."""
    security, original = _security(root), _assertion(root)
    index = security.index(original)
    forged = copy.deepcopy(original)
    forged.set("ID", new_id(original.get("ID", "")))
    _attribute_value(forged, XuaAttribute.SUBJECT_ID).text = "Mallory"
    etree.SubElement(_header(root), q(EXT, "Stash")).append(original)
    security.insert(index, forged)


def forged_id_with_whitespace(root: etree._Element) -> None:
    _swap_assertion(root, lambda i: f" {i} ")


def forged_id_with_hash(root: etree._Element) -> None:
    _swap_assertion(root, lambda i: f"#{i}")


def forged_id_in_other_case(root: etree._Element) -> None:
    _swap_assertion(root, str.upper)


def unsigned_assertion_placed_first(root: etree._Element) -> None:
    security, original = _security(root), _assertion(root)
    forged = copy.deepcopy(original)
    forged.remove(_find(forged, q(ns.DS, "Signature")))
    forged.set("ID", "_unsigned")
    _attribute_value(forged, XuaAttribute.SUBJECT_ID).text = "Mallory"
    security.insert(0, forged)


def timestamp_moved_to_header_block(root: etree._Element) -> None:
    """The signed Timestamp becomes a header block of its own (a place references may name); an unsigned,
    later-expiring Timestamp sits where the verifier reads it."""
    security, signed = _security(root), _timestamp(root)
    index = security.index(signed)
    _header(root).append(signed)
    fresh = copy.deepcopy(signed)
    fresh.set(WSU_ID, "TS-unsigned")
    _find(fresh, q(ns.WSU, "Expires")).text = "2099-01-01T00:00:00.000Z"
    security.insert(index, fresh)


def body_moved_to_header_block(root: etree._Element) -> None:
    body = _body(root)
    root.remove(body)
    _header(root).append(body)
    evil = etree.SubElement(root, q(ns.SOAP12, "Body"))
    etree.SubElement(evil, "{urn:ihe:iti:xds-b:2007}RetrieveDocumentSetRequest").text = "evil"


def second_body(root: etree._Element) -> None:
    evil = etree.SubElement(root, q(ns.SOAP12, "Body"))
    etree.SubElement(evil, "{urn:ihe:iti:xds-b:2007}RetrieveDocumentSetRequest").text = "evil"


def second_timestamp_first(root: etree._Element) -> None:
    fresh = copy.deepcopy(_timestamp(root))
    fresh.set(WSU_ID, "TS-unsigned")
    _security(root).insert(0, fresh)


def second_security_header_for_another_role(root: etree._Element) -> None:
    other = copy.deepcopy(_security(root))
    for element in other.iter():
        for name in [n for n in element.attrib if n.endswith(("ID", "Id"))]:
            element.set(name, f"{element.get(name)}-other")
    other.set(q(ns.SOAP12, "role"), "urn:example:someone-else")
    _header(root).insert(0, other)


def second_message_signature(root: etree._Element) -> None:
    _security(root).append(copy.deepcopy(_message_signature(root)))


def second_signature_in_assertion(root: etree._Element) -> None:
    assertion = _assertion(root)
    assertion.append(copy.deepcopy(_assertion_signature(root)))


def _set_first_reference_uri(signature: etree._Element, uri: str) -> None:
    _references(signature)[0].set("URI", uri)


def xpointer_reference(root: etree._Element) -> None:
    ts_id = _timestamp(root).get(WSU_ID)
    _set_first_reference_uri(_message_signature(root), f"#xpointer(id('{ts_id}'))")


def empty_reference_uri(root: etree._Element) -> None:
    _set_first_reference_uri(_message_signature(root), "")


def reference_into_another_document(root: etree._Element) -> None:
    _set_first_reference_uri(_message_signature(root), f"other.xml#{_timestamp(root).get(WSU_ID)}")


def assertion_reference_to_whole_document(root: etree._Element) -> None:
    _set_first_reference_uri(_assertion_signature(root), "#xpointer(/)")


def comment_in_audience(root: etree._Element) -> None:
    audience = _find(_assertion(root), f".//{q(ns.SAML2, 'Audience')}")
    audience.text = "https://evil.example"
    audience.append(etree.Comment("x"))
    audience[-1].tail = "/xca"


def processing_instruction_in_home_community_id(root: etree._Element) -> None:
    value = _attribute_value(_assertion(root), XuaAttribute.HOME_COMMUNITY_ID)
    value.insert(0, etree.ProcessingInstruction("x", "y"))


def comment_beside_role(root: etree._Element) -> None:
    value = _attribute_value(_assertion(root), XuaAttribute.ROLE)
    value.insert(0, etree.Comment("<hl7:Role code='ADMIN'/>"))


def _signed_info(signature: etree._Element) -> etree._Element:
    return _find(signature, q(ns.DS, "SignedInfo"))


def hmac_signature_method(root: etree._Element) -> None:
    """HMAC-SHA256 keyed with the holder certificate (public, in the message): the classic key confusion. The
    SignatureValue is a correct HMAC, so only the algorithm allow-list can refuse it."""
    signature = _message_signature(root)
    signed_info = _signed_info(signature)
    _find(signed_info, q(ns.DS, "SignatureMethod")).set(
        "Algorithm", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
    )
    certificate = _find(_assertion(root), f".//{q(ns.DS, 'KeyInfo')}//{q(ns.DS, 'X509Certificate')}")
    key = (certificate.text or "").encode()
    canonical = etree.tostring(etree.fromstring(etree.tostring(signed_info)), method="c14n", exclusive=True)
    value = hmac.new(key, canonical, hashlib.sha256).digest()
    _find(signature, q(ns.DS, "SignatureValue")).text = _b64(value)


def sha1_digest_swapped_in(root: etree._Element) -> None:
    reference = _references(_message_signature(root))[0]
    _find(reference, q(ns.DS, "DigestMethod")).set("Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1")


def _add_transform(signature: etree._Element, algorithm: str, child: etree._Element | None = None) -> None:
    transforms = _find(_references(signature)[0], q(ns.DS, "Transforms"))
    transform = etree.Element(q(ns.DS, "Transform"), Algorithm=algorithm)
    if child is not None:
        transform.append(child)
    transforms.insert(0, transform)


def xslt_transform_in_assertion_reference(root: etree._Element) -> None:
    stylesheet = etree.fromstring(
        '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0">'
        '<xsl:template match="/"><x/></xsl:template></xsl:stylesheet>'
    )
    _add_transform(_assertion_signature(root), "http://www.w3.org/TR/1999/REC-xslt-19991116", stylesheet)


def xpath_transform_in_message_reference(root: etree._Element) -> None:
    xpath = etree.Element(q(ns.DS, "XPath"))
    xpath.text = "not(ancestor-or-self::*)"
    _add_transform(_message_signature(root), "http://www.w3.org/TR/1999/REC-xpath-19991116", xpath)


def base64_transform(root: etree._Element) -> None:
    _add_transform(_message_signature(root), "http://www.w3.org/2000/09/xmldsig#base64")


def c14n_with_comments(root: etree._Element) -> None:
    method = _find(_signed_info(_assertion_signature(root)), q(ns.DS, "CanonicalizationMethod"))
    method.set("Algorithm", f"{EXC_C14N}WithComments")


def inclusive_c14n_transform(root: etree._Element) -> None:
    transforms = _find(_references(_message_signature(root))[0], q(ns.DS, "Transforms"))
    transforms[0].set("Algorithm", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315")


def token_reference_with_other_value_type(root: etree._Element) -> None:
    identifier = _find(_message_signature(root), f".//{q(ns.WSSE, 'KeyIdentifier')}")
    identifier.set(
        "ValueType", "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.0#SAMLAssertionID"
    )


def token_reference_to_the_timestamp(root: etree._Element) -> None:
    reference = _find(_message_signature(root), f".//{q(ns.WSSE, 'SecurityTokenReference')}")
    for child in list(reference):
        reference.remove(child)
    etree.SubElement(reference, q(ns.WSSE, "Reference"), URI=f"#{_timestamp(root).get(WSU_ID)}")


def _x509_certificate(root: etree._Element) -> etree._Element:
    return _find(_assertion_signature(root), f"{q(ns.DS, 'KeyInfo')}//{q(ns.DS, 'X509Certificate')}")


def huge_certificate(root: etree._Element) -> None:
    _x509_certificate(root).text = "QUFB" * 500_000  # 2 MB of valid base64 that is no certificate


def certificate_not_base64(root: etree._Element) -> None:
    certificate = _x509_certificate(root)
    certificate.text = (certificate.text or "").replace("A", "*", 1)


MUTATIONS: list[tuple[Mutation, type[errors.SecurityRefusedError]]] = [
    (assertion_id_on_wsu_id, errors.DuplicateIdError),
    (assertion_id_on_foreign_namespace_ID, errors.DuplicateIdError),
    (timestamp_id_on_xml_id, errors.DuplicateIdError),
    (body_id_on_lowercase_id, errors.DuplicateIdError),
    (forged_id_with_whitespace, errors.SignatureWrappingError),
    (forged_id_with_hash, errors.SignatureWrappingError),
    (forged_id_in_other_case, errors.SignatureWrappingError),
    (unsigned_assertion_placed_first, errors.SignatureWrappingError),
    (timestamp_moved_to_header_block, errors.SignatureWrappingError),
    (body_moved_to_header_block, errors.SignatureWrappingError),
    (second_body, errors.SecurityHeaderError),
    (second_timestamp_first, errors.SecurityHeaderError),
    (second_security_header_for_another_role, errors.SecurityHeaderError),
    (second_message_signature, errors.SecurityHeaderError),
    (second_signature_in_assertion, errors.AssertionInvalidError),
    (xpointer_reference, errors.SignatureWrappingError),
    (empty_reference_uri, errors.SignatureWrappingError),
    (reference_into_another_document, errors.SignatureWrappingError),
    (assertion_reference_to_whole_document, errors.SignatureWrappingError),
    (comment_in_audience, errors.CommentInjectionError),
    (processing_instruction_in_home_community_id, errors.CommentInjectionError),
    (comment_beside_role, errors.CommentInjectionError),
    (hmac_signature_method, errors.UnsupportedAlgorithmError),
    (sha1_digest_swapped_in, errors.UnsupportedAlgorithmError),
    (xslt_transform_in_assertion_reference, errors.UnsupportedAlgorithmError),
    (xpath_transform_in_message_reference, errors.UnsupportedAlgorithmError),
    (base64_transform, errors.UnsupportedAlgorithmError),
    (c14n_with_comments, errors.UnsupportedAlgorithmError),
    (inclusive_c14n_transform, errors.UnsupportedAlgorithmError),
    (token_reference_with_other_value_type, errors.HolderOfKeyError),
    (token_reference_to_the_timestamp, errors.HolderOfKeyError),
    (huge_certificate, errors.UnsupportedKeyInfoError),
    (certificate_not_base64, errors.UnsupportedKeyInfoError),
]


@pytest.mark.parametrize(("mutate", "expected"), MUTATIONS, ids=[m.__name__ for m, _ in MUTATIONS])
def test_captured_message_changed_is_refused(
    sign: Signer, verifier: Verifiers, mutate: Mutation, expected: type[errors.SecurityRefusedError]
) -> None:
    data = sign()
    root = _tree(data)
    mutate(root)
    checker = verifier()
    _refused(checker, root, expected)
    # nothing was remembered from the refused copy: the real message still gets through
    assert checker.verify(data).assertion.claims.subject_id == "Dr. Jane Testdoctor"


def test_changes_that_leave_the_signed_content_alone_change_nothing_read(
    sign: Signer, verifier: Verifiers
) -> None:
    """CDATA in the NameID, a comment in the Body (outside the security header, so allowed), an unused
    default namespace on the assertion and a forgery whose ID differs by white space parked in an extension:
    still valid, and everything read is what was signed."""
    root = _tree(sign())
    request = _find(_body(root), ".//{urn:ihe:iti:xds-b:2007}DocumentRequest")
    request.text = "que"
    request.append(etree.Comment("other patient"))
    request[-1].tail = "ry"
    forged = copy.deepcopy(_assertion(root))
    forged.set("ID", f"{forged.get('ID')} ")
    _attribute_value(forged, XuaAttribute.SUBJECT_ID).text = "Mallory"
    etree.SubElement(_header(root), q(EXT, "Stash")).append(forged)
    data = etree.tostring(root).replace(b">jdoe@clinic.example<", b">jdoe@<![CDATA[clinic]]>.example<", 1)
    data = data.replace(b"<saml2:Assertion ", b'<saml2:Assertion xmlns="urn:example:unused" ', 1)
    verified = verifier().verify(data)
    assert verified.assertion.name_id == "jdoe@clinic.example"
    assert verified.assertion.claims.subject_id == "Dr. Jane Testdoctor"
    assert verified.body is not None
    assert [e.text for e in verified.body] == ["query"]


# --- 2. KeyInfo


def _rsa_key_value(modulus: int, exponent: int) -> etree._Element:
    key_value = etree.Element(q(ns.DS, "KeyValue"))
    rsa_value = etree.SubElement(key_value, q(ns.DS, "RSAKeyValue"))
    etree.SubElement(rsa_value, q(ns.DS, "Modulus")).text = _b64(
        modulus.to_bytes((modulus.bit_length() + 7) // 8)
    )
    etree.SubElement(rsa_value, q(ns.DS, "Exponent")).text = _b64(exponent.to_bytes(3))
    return key_value


def test_key_value_of_another_key_beside_the_certificate(sign: Signer, verifier: Verifiers, pki: Pki) -> None:
    """The assertion signature's KeyInfo names the trusted certificate and, in KeyValue, the rogue key."""
    root = _tree(sign())
    numbers = pki.rogue.private_key.public_key().public_numbers()
    _find(_assertion_signature(root), q(ns.DS, "KeyInfo")).append(_rsa_key_value(numbers.n, numbers.e))
    _refused(verifier(), root, errors.SecurityHeaderError)


def _der_key_value(der: bytes) -> etree._Element:
    element = etree.Element(q(DSIG11, "DEREncodedKeyValue"), nsmap={"dsig11": DSIG11})
    element.text = _b64(der)
    return element


def test_der_key_value_of_another_rsa_key(sign: Signer, verifier: Verifiers, pki: Pki) -> None:
    root = _tree(sign())
    der = pki.rogue.private_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    _find(_message_signature(root), q(ns.DS, "KeyInfo")).append(_der_key_value(der))
    _refused(verifier(), root, errors.SecurityHeaderError)


@pytest.mark.parametrize("where", ["assertion", "message"])
def test_der_key_value_of_an_ec_key(sign: Signer, verifier: Verifiers, where: str) -> None:
    """Anyone holding one captured message can trigger it, as often as they like (replay is checked last)."""
    root = _tree(sign())
    signature = _assertion_signature(root) if where == "assertion" else _message_signature(root)
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = ec_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    _find(signature, q(ns.DS, "KeyInfo")).append(_der_key_value(der))
    _refused(verifier(), root, errors.SecurityHeaderError)


def _replace_certificates(root: etree._Element, ders: list[bytes]) -> None:
    x509_data = _find(_assertion_signature(root), f"{q(ns.DS, 'KeyInfo')}/{q(ns.DS, 'X509Data')}")
    for child in list(x509_data):
        x509_data.remove(child)
    for der in ders:
        etree.SubElement(x509_data, q(ns.DS, "X509Certificate")).text = _b64(der)


def test_untrusted_self_signed_leaf_first_with_the_trusted_root_beside_it(
    sign: Signer, verifier: Verifiers, pki: Pki
) -> None:
    """Both certificates issued themselves, so neither looks like a leaf: the first is taken, and refused."""
    root = _tree(sign())
    rogue_root = create_ca(common_name="hie-gateway-dev")
    trusted_root = load_certificate(pki.layout.ca_certificate)
    _replace_certificates(
        root, [rogue_root.certificate.public_bytes(Encoding.DER), trusted_root.public_bytes(Encoding.DER)]
    )
    _refused(verifier(), root, errors.SignerUntrustedError)


def test_key_info_padded_with_many_certificates(sign: Signer, verifier: Verifiers, pki: Pki) -> None:
    """A genuine message whose assertion KeyInfo is padded with 64 expired certificates: no chain needs more
    than a handful, so the padding should be refused before chain building (today it is accepted)."""
    now = dt.datetime.now(dt.UTC)
    junk_ca = create_ca(common_name="Junk Root CA")
    junk = issue_certified_key(
        junk_ca,
        CertificatePurpose.SIGNING,
        common_name="junk",
        now=now - dt.timedelta(days=30),
        valid_for=dt.timedelta(days=1),
    ).certificate.public_bytes(Encoding.DER)
    root = _tree(sign())
    _replace_certificates(root, [pki.signing.certificate.public_bytes(Encoding.DER), *[junk] * 64])
    _refused(verifier(), root, errors.UnsupportedKeyInfoError)


def test_assertion_signed_by_the_trusted_ca_itself(pki: Pki, verifier: Verifiers) -> None:
    """The CA certificate chains (it is the anchor) but must not sign assertions."""
    ca = SigningIdentity.of(load_certificate(pki.layout.ca_certificate), load_private_key(pki.layout.ca_key))
    now = dt.datetime.now(dt.UTC)
    _refused(verifier(), _issued(pki, now, issuer=ca, holder=pki.signing), errors.SignerUntrustedError)


def test_holder_key_from_an_untrusted_certificate(pki: Pki, verifier: Verifiers) -> None:
    """A trusted issuer confirms a rogue certificate's key, and the rogue key signs the message."""
    now = dt.datetime.now(dt.UTC)
    envelope = _envelope_with_assertion(pki, now, holder=pki.rogue)
    signed = sign_message(envelope, identity=pki.rogue, options=PartnerSecurityOptions(), now=now)
    _refused(verifier(), etree.tostring(signed), errors.SignerUntrustedError)


def test_message_signed_by_a_key_offered_in_its_own_key_info(pki: Pki, verifier: Verifiers) -> None:
    """A thief signs with their own (even trusted-looking) key and offers its certificate in the message
    signature's KeyInfo next to the token reference: only the key the assertion confirms may verify."""
    now = dt.datetime.now(dt.UTC)
    envelope = _envelope_with_assertion(pki, now)
    signed = sign_message(envelope, identity=pki.rogue, options=PartnerSecurityOptions(), now=now)
    key_info = _find(_message_signature(signed), q(ns.DS, "KeyInfo"))
    x509_data = etree.Element(q(ns.DS, "X509Data"))
    etree.SubElement(x509_data, q(ns.DS, "X509Certificate")).text = _b64(
        pki.rogue.certificate.public_bytes(Encoding.DER)
    )
    key_info.insert(0, x509_data)
    _refused(verifier(now=now), etree.tostring(signed), errors.SignatureInvalidError)


def test_holder_key_value_of_another_key(pki: Pki, verifier: Verifiers) -> None:
    numbers = pki.rogue.private_key.public_key().public_numbers()

    def edit(assertion: etree._Element) -> None:
        key_info = _find(assertion, f".//{q(ns.SAML2, 'SubjectConfirmationData')}/{q(ns.DS, 'KeyInfo')}")
        for child in list(key_info):
            key_info.remove(child)
        key_info.append(_rsa_key_value(numbers.n, numbers.e))

    _refused(verifier(), _issued(pki, dt.datetime.now(dt.UTC), edit=edit), errors.UnsupportedKeyInfoError)


# --- 3. what a key holder signs


def _holder(pki: Pki, now: dt.datetime, **kwargs: object) -> bytes:
    return _holder_signed(pki, _envelope_with_assertion(pki, now), **kwargs)  # type: ignore[arg-type]


def test_holder_crafted_message_is_accepted_as_a_baseline(pki: Pki, verifier: Verifiers) -> None:
    now = dt.datetime.now(dt.UTC)
    verified = verifier(now=now).verify(_holder(pki, now, created=_at(now, 0), expires=_at(now, 5)))
    assert verified.body_signed
    assert verified.timestamp.id == "TS-1"


@pytest.mark.parametrize(
    ("created", "expires", "expected"),
    [
        (0, -1, errors.TimestampInvalidError),  # Expires before Created
        (0, 0, errors.TimestampInvalidError),  # empty lifetime
        (0, 120, errors.TimestampInvalidError),  # lifetime over the one-hour maximum
        (10, 15, errors.TimestampNotYetValidError),  # created beyond the skew
        (-11, None, errors.TimestampExpiredError),  # no Expires: Created + max age has passed
        (None, 5, errors.TimestampInvalidError),  # no Created
    ],
    ids=["expires-before-created", "empty", "too-long", "future", "no-expires-too-old", "no-created"],
)
def test_timestamp_policy_holds_against_the_key_holder(
    pki: Pki,
    verifier: Verifiers,
    created: float | None,
    expires: float | None,
    expected: type[errors.SecurityRefusedError],
) -> None:
    now = dt.datetime.now(dt.UTC)
    data = _holder(
        pki,
        now,
        created=_at(now, created) if created is not None else None,
        expires=_at(now, expires) if expires is not None else None,
    )
    _refused(verifier(now=now), data, expected)


def test_timestamp_without_expires_is_accepted_while_fresh(pki: Pki, verifier: Verifiers) -> None:
    now = dt.datetime.now(dt.UTC)
    verified = verifier(now=now).verify(_holder(pki, now, created=_at(now, -1), expires=None))
    assert verified.timestamp.expires is None


@pytest.mark.parametrize("created", ["2026-01-01T00:00:00", "2026-13-01T00:00:00Z", "tomorrow"])
def test_malformed_timestamp_created(pki: Pki, verifier: Verifiers, created: str) -> None:
    now = dt.datetime.now(dt.UTC)
    _refused(
        verifier(now=now), _holder(pki, now, created=created, expires=None), errors.TimestampInvalidError
    )


@pytest.mark.parametrize("created", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_timestamp_at_the_edge_of_the_datetime_range(pki: Pki, verifier: Verifiers, created: str) -> None:
    now = dt.datetime.now(dt.UTC)
    _refused(
        verifier(now=now), _holder(pki, now, created=created, expires=None), errors.TimestampInvalidError
    )


def test_message_signature_without_the_timestamp(pki: Pki, verifier: Verifiers) -> None:
    now = dt.datetime.now(dt.UTC)
    data = _holder(pki, now, created=_at(now, 0), expires=_at(now, 5), references=("#Body-1",))
    _refused(verifier(now=now), data, errors.SecurityHeaderError)


def test_sha1_digests_under_an_rsa_sha256_signature(pki: Pki, verifier: Verifiers) -> None:
    now = dt.datetime.now(dt.UTC)
    data = _holder(pki, now, created=_at(now, 0), expires=_at(now, 5), digest=DigestAlgorithm.SHA1)
    _refused(verifier(now=now), data, errors.UnsupportedAlgorithmError)


def test_double_hash_reference_never_reaches_the_resolver(pki: Pki, verifier: Verifiers) -> None:
    """IdReferenceResolver strips every leading '#' (as signxml does) while the target check strips one:
    ``##TS-1`` would be checked against the element whose ID is ``#TS-1`` (the Timestamp in place) but digest
    the one whose ID is ``TS-1`` (here a Timestamp inside the Body). signxml's schema check refuses the URI
    (not an xs:anyURI) before any reference is resolved, so the mismatch is unreachable."""
    now = dt.datetime.now(dt.UTC)
    envelope = _envelope_with_assertion(pki, now)
    decoy = etree.SubElement(_body(envelope)[0], q(ns.WSU, "Timestamp"), nsmap={"wsu": ns.WSU})
    decoy.set(WSU_ID, "TS-1")
    etree.SubElement(decoy, q(ns.WSU, "Created")).text = _at(now, 0)
    data = _holder_signed(
        pki,
        envelope,
        created=_at(now, -600),
        expires=_at(now, -590),
        references=("##TS-1", "#Body-1"),
        timestamp_id="#TS-1",
    )
    error = _refused(verifier(now=now), data, errors.SecurityHeaderError)
    assert isinstance(error.__cause__, etree.DocumentInvalid)


# --- 4. what an issuer signs


def _conditions(assertion: etree._Element) -> etree._Element:
    return _find(assertion, q(ns.SAML2, "Conditions"))


def _hidden_conditions(assertion: etree._Element) -> None:
    """Conditions moved into a look-alike namespace by rebinding the saml2 prefix on that element alone."""
    conditions = _conditions(assertion)
    hidden = etree.Element(
        "{urn:oasis:names:tc:SAML:2.0:assertion:}Conditions", nsmap={"saml2": f"{ns.SAML2}:"}
    )
    hidden.attrib.update(conditions.attrib)
    assertion.replace(conditions, hidden)


def _foreign_not_on_or_after(assertion: etree._Element) -> None:
    conditions = _conditions(assertion)
    conditions.set(q(EXT, "NotOnOrAfter"), "2099-01-01T00:00:00Z")
    conditions.set("NotOnOrAfter", conditions.get("NotBefore", ""))


def _audience(text: str) -> Mutation:
    def edit(assertion: etree._Element) -> None:
        _find(assertion, f".//{q(ns.SAML2, 'Audience')}").text = text

    return edit


def _second_restriction(assertion: etree._Element) -> None:
    restriction = etree.SubElement(_conditions(assertion), q(ns.SAML2, "AudienceRestriction"))
    etree.SubElement(restriction, q(ns.SAML2, "Audience")).text = "https://someone-else.example/xca"


def _attribute_text(name: XuaAttribute, text: str) -> Mutation:
    def edit(assertion: etree._Element) -> None:
        _attribute_value(assertion, name).text = text

    return edit


def _role_code(code: str) -> Mutation:
    def edit(assertion: etree._Element) -> None:
        _attribute_value(assertion, XuaAttribute.ROLE)[0].set("code", code)

    return edit


def _bearer_only(assertion: etree._Element) -> None:
    confirmation = _find(assertion, f".//{q(ns.SAML2, 'SubjectConfirmation')}")
    confirmation.set("Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer")


def _unknown_condition(assertion: etree._Element) -> None:
    etree.SubElement(_conditions(assertion), q(ns.SAML2, "Condition"))


ISSUED: list[tuple[str, Mutation, type[errors.SecurityRefusedError]]] = [
    ("conditions-in-lookalike-namespace", _hidden_conditions, errors.AssertionInvalidError),
    ("foreign-NotOnOrAfter-attribute-ignored", _foreign_not_on_or_after, errors.AssertionInvalidError),
    ("audience-zero-width-space", _audience(f"{AUDIENCE}\u200b"), errors.AudienceMismatchError),
    ("audience-other-case", _audience(AUDIENCE.upper()), errors.AudienceMismatchError),
    ("audience-cyrillic-lookalike", _audience(AUDIENCE.replace("e", "\u0435")), errors.AudienceMismatchError),
    ("second-restriction-for-someone-else", _second_restriction, errors.AudienceMismatchError),
    (
        "home-community-fullwidth-digits",
        _attribute_text(XuaAttribute.HOME_COMMUNITY_ID, "urn:oid:\uff11.\uff13.\uff16"),
        errors.XuaAttributeInvalidError,
    ),
    (
        "organization-id-trailing-newline",
        _attribute_text(XuaAttribute.ORGANIZATION_ID, "urn:oid:1.3.6.1\n.4"),
        errors.XuaAttributeInvalidError,
    ),
    (
        "npi-arabic-indic-digits",
        _attribute_text(XuaAttribute.NPI, "\u0661" * 10),
        errors.XuaAttributeInvalidError,
    ),
    ("role-code-not-a-number", _role_code("ADMIN"), errors.XuaAttributeInvalidError),
    ("bearer-confirmation-only", _bearer_only, errors.AssertionInvalidError),
    ("unknown-condition", _unknown_condition, errors.AssertionInvalidError),
]


@pytest.mark.parametrize(("edit", "expected"), [(e, x) for _, e, x in ISSUED], ids=[i for i, _, _ in ISSUED])
def test_issued_assertion_content_is_read_strictly(
    pki: Pki, verifier: Verifiers, edit: Mutation, expected: type[errors.SecurityRefusedError]
) -> None:
    _refused(verifier(), _issued(pki, dt.datetime.now(dt.UTC), edit=edit), expected)


@pytest.mark.parametrize("code", ["\uff11\uff11\uff12\uff12\uff14\uff17\uff10\uff10\uff13", "11224700\u00b3"])
def test_role_code_with_non_ascii_digits(pki: Pki, verifier: Verifiers, code: str) -> None:
    _refused(
        verifier(),
        _issued(pki, dt.datetime.now(dt.UTC), edit=_role_code(code)),
        errors.XuaAttributeInvalidError,
    )


def test_assertion_lifetime_over_the_policy_maximum(pki: Pki, verifier: Verifiers) -> None:
    now = dt.datetime.now(dt.UTC)
    data = _issued(pki, now, lifetime=dt.timedelta(hours=2))
    error = _refused(
        verifier(max_assertion_lifetime=dt.timedelta(hours=1)), data, errors.AssertionInvalidError
    )
    assert error.detail.get("limit") == "1:00:00"


# --- 5. replay


def _message_id(root: etree._Element) -> etree._Element:
    return _find(_header(root), q(ns.WSA, "MessageID"))


def test_same_assertion_under_a_new_message_id(sign: Signer, verifier: Verifiers) -> None:
    """wsa:MessageID is not signed: changing it must not make a replay look new."""
    data = sign()
    checker = verifier()
    checker.verify(data)
    root = _tree(data)
    _message_id(root).text = "urn:uuid:00000000-0000-4000-8000-000000000001"
    assert _refused(checker, root, errors.ReplayedMessageError).detail == {"kind": "assertion"}


def test_same_assertion_without_a_message_id(sign: Signer, verifier: Verifiers) -> None:
    data = sign()
    checker = verifier()
    checker.verify(data)
    root = _tree(data)
    _header(root).remove(_message_id(root))
    assert _refused(checker, root, errors.ReplayedMessageError).detail == {"kind": "assertion"}


def test_new_assertion_under_a_seen_message_id(sign: Signer, verifier: Verifiers) -> None:
    first, second = _tree(sign()), _tree(sign())
    checker = verifier()
    checker.verify(etree.tostring(first))
    _message_id(second).text = _message_id(first).text
    assert _refused(checker, second, errors.ReplayedMessageError).detail == {"kind": "message"}


def test_refused_copies_do_not_burn_the_message(sign: Signer, verifier: Verifiers) -> None:
    """An attacker racing the real sender with broken copies (tampered, expired clock) gains nothing."""
    data = sign()
    checker = verifier()
    _refused(checker, data.replace(b">query<", b">other<"), errors.DigestMismatchError)
    later = verifier(now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    _refused(later, data, errors.AssertionExpiredError)
    assert checker.verify(data).body_signed


# --- 6. resource limits


def test_deeply_nested_header(sign: Signer, verifier: Verifiers) -> None:
    data = sign()
    deep = b"<x:d xmlns:x='urn:x'>" * 300 + b"</x:d>" * 300
    crafted = data.replace(b"</soap:Header>", deep + b"</soap:Header>", 1)
    with pytest.raises(errors.XmlTooDeepError):
        verifier().verify(crafted)


def test_message_over_the_byte_limit(sign: Signer, verifier: Verifiers) -> None:
    data = sign()
    with pytest.raises(errors.XmlTooLargeError):
        verifier().verify(data, max_bytes=len(data) - 1)


# --- limits and instants added after the review


def test_duplicate_reference_to_one_element(pki: Pki, verifier: Verifiers) -> None:
    now = dt.datetime.now(dt.UTC)
    data = _holder(pki, now, created=_at(now, 0), expires=_at(now, 5), references=("#TS-1", "#TS-1"))
    _refused(verifier(now=now), data, errors.SignatureWrappingError)


def test_too_many_references(pki: Pki, verifier: Verifiers) -> None:
    """Each reference digests a copy of its element: a long list is an amplification, refused before work."""
    now = dt.datetime.now(dt.UTC)
    envelope = _envelope_with_assertion(pki, now)
    header = _header(envelope)
    extra = []
    for n in range(12):
        block = etree.SubElement(header, "{urn:example:ext}Block")
        block.set(WSU_ID, f"X-{n}")
        extra.append(f"#X-{n}")
    data = _holder_signed(
        pki, envelope, created=_at(now, 0), expires=_at(now, 5), references=("#TS-1", "#Body-1", *extra)
    )
    error = _refused(verifier(now=now), data, errors.SecurityHeaderError)
    assert error.detail.get("limit") == 8


@pytest.mark.parametrize("attribute", ["IssueInstant", "AuthnInstant"])
def test_assertion_issued_in_the_future(pki: Pki, verifier: Verifiers, attribute: str) -> None:
    now = dt.datetime.now(dt.UTC)

    def future(assertion: etree._Element) -> None:
        element = (
            assertion if attribute == "IssueInstant" else _find(assertion, q(ns.SAML2, "AuthnStatement"))
        )
        element.set(attribute, "2099-01-01T00:00:00Z")

    error = _refused(verifier(now=now), _issued(pki, now, edit=future), errors.AssertionNotYetValidError)
    assert error.detail == {"field": attribute}
