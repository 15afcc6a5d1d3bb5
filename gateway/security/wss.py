"""WS-Security for outgoing messages: the signed assertion and the holder-of-key message signature.

OASIS WSS 1.1 SOAP Message Security (§5 Security header, §8 signatures, §10 Timestamp) and the SAML Token
Profile 1.1 (§3.4.2 SecurityTokenReference with a SAMLID KeyIdentifier, §3.5 holder-of-key); IHE ITI TF-2b
3.40.
Signatures are made by signxml with exclusive c14n: the assertion carries an enveloped signature with its
certificate; the message signature covers ``wsu:Timestamp`` (and the ``soap:Body`` unless the partner says
otherwise) and its KeyInfo points at the assertion by ID, proving possession of the key the assertion
confirms.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Sequence
from typing import Final

from lxml import etree
from signxml.algorithms import CanonicalizationMethod, SignatureConstructionMethod
from signxml.exceptions import SignXMLException
from signxml.signer import XMLSigner

from gateway.security.options import HeaderItem, PartnerSecurityOptions, SigningIdentity
from gateway.security.saml import xml_datetime
from xca import ns
from xca.errors import SigningError
from xca.ns import q

__all__ = [
    "SAMLID_VALUE_TYPE",
    "SAMLV2_TOKEN_TYPE",
    "WSSE11",
    "add_timestamp",
    "ensure_security_header",
    "sign_assertion",
    "sign_message",
]

WSSE11: Final = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd"
SAMLID_VALUE_TYPE: Final = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLID"
SAMLV2_TOKEN_TYPE: Final = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0"  # noqa: S105
_EXC_C14N: Final = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0
_WSU_ID: Final = q(ns.WSU, "Id")


class _Sha1CapableSigner(XMLSigner):
    """signxml refuses SHA-1 outright; this variant is only built for partners configured with allow_sha1."""

    def check_deprecated_methods(self) -> None:
        return None


_local = threading.local()


def _signer(options: PartnerSecurityOptions, method: SignatureConstructionMethod) -> XMLSigner:
    # Signers hold a parser and per-call state: cache one per thread and configuration.
    key = (options.allow_sha1, options.signature_algorithm, options.digest_algorithm, method)
    cache: dict[object, XMLSigner] = _local.__dict__.setdefault("signers", {})
    signer = cache.get(key)
    if signer is None:
        cls = _Sha1CapableSigner if options.allow_sha1 else XMLSigner
        signer = cache[key] = cls(
            method=method,
            signature_algorithm=options.signature_algorithm.value,
            digest_algorithm=options.digest_algorithm.value,
            c14n_algorithm=_EXC_C14N,
        )
    return signer


def ensure_security_header(envelope: etree._Element) -> etree._Element:
    """The envelope's ``wsse:Security`` header block, created (mustUnderstand) if absent."""
    header = envelope.find(q(ns.SOAP12, "Header"))
    if header is None:
        header = etree.Element(q(ns.SOAP12, "Header"))
        envelope.insert(0, header)
    security = header.find(q(ns.WSSE, "Security"))
    if security is None:
        security = etree.SubElement(header, q(ns.WSSE, "Security"), nsmap={"wsse": ns.WSSE, "wsu": ns.WSU})
        security.set(q(ns.SOAP12, "mustUnderstand"), "true")
    return security


def sign_assertion(
    assertion: etree._Element, *, identity: SigningIdentity, options: PartnerSecurityOptions
) -> etree._Element:
    """A signed copy of ``assertion``: enveloped RSA signature at its ``ds:Signature`` placeholder, with the
    signing certificate (and chain) in KeyInfo/X509Data. Reference URI is ``#`` + the assertion ID."""
    try:
        return _signer(options, SignatureConstructionMethod.enveloped).sign(
            assertion,
            key=identity.private_key,
            cert=[identity.certificate, *identity.chain],
            reference_uri=f"#{assertion.get('ID')}",
        )
    except (SignXMLException, ValueError, TypeError) as exc:
        raise SigningError(
            "the assertion could not be signed", detail={"reason": type(exc).__name__}
        ) from exc


def add_timestamp(
    security: etree._Element, *, created: dt.datetime, lifetime: dt.timedelta
) -> etree._Element:
    """Append a ``wsu:Timestamp`` (Created, Expires) with a fresh ``wsu:Id`` to ``security``."""
    timestamp = etree.SubElement(security, q(ns.WSU, "Timestamp"), nsmap={"wsu": ns.WSU})
    timestamp.set(_WSU_ID, f"TS-{uuid.uuid4()}")
    etree.SubElement(timestamp, q(ns.WSU, "Created")).text = xml_datetime(created)
    etree.SubElement(timestamp, q(ns.WSU, "Expires")).text = xml_datetime(created + lifetime)
    return timestamp


def _token_reference(assertion_id: str) -> etree._Element:
    key_info = etree.Element(q(ns.DS, "KeyInfo"), nsmap={"ds": ns.DS})
    reference = etree.SubElement(
        key_info, q(ns.WSSE, "SecurityTokenReference"), nsmap={"wsse": ns.WSSE, "wsse11": WSSE11}
    )
    reference.set(q(WSSE11, "TokenType"), SAMLV2_TOKEN_TYPE)
    identifier = etree.SubElement(reference, q(ns.WSSE, "KeyIdentifier"), ValueType=SAMLID_VALUE_TYPE)
    identifier.text = assertion_id
    return key_info


def _body_with_id(envelope: etree._Element) -> etree._Element:
    body = envelope.find(q(ns.SOAP12, "Body"))
    if body is None:
        raise SigningError("the envelope has no soap:Body to sign")
    if body.get(_WSU_ID) is None:
        # Declare wsu at the top so the Body's Id does not get a generated prefix.
        etree.cleanup_namespaces(envelope, top_nsmap={"wsu": ns.WSU}, keep_ns_prefixes=["wsu"])
        body.set(_WSU_ID, f"Body-{uuid.uuid4()}")
    return body


def _order(
    security: etree._Element, items: dict[HeaderItem, etree._Element], order: Sequence[HeaderItem]
) -> None:
    for item in order:
        security.remove(items[item])
    for item in order:
        security.append(items[item])


def sign_message(
    envelope: etree._Element,
    *,
    identity: SigningIdentity,
    options: PartnerSecurityOptions,
    now: dt.datetime,
) -> etree._Element:
    """Add the Timestamp and the holder-of-key message signature to an envelope with a signed assertion.

    The signature references the Timestamp (and the Body when ``options.sign_body``); its KeyInfo is a
    SecurityTokenReference to the assertion. Children of ``wsse:Security`` end up in ``options.header_order``.
    """
    security = ensure_security_header(envelope)
    assertion = security.find(q(ns.SAML2, "Assertion"))
    if assertion is None or not assertion.get("ID"):
        raise SigningError("sign the assertion before the message: no assertion in wsse:Security")
    timestamp = add_timestamp(security, created=now, lifetime=options.timestamp_lifetime)
    references = [f"#{timestamp.get(_WSU_ID)}"]
    if options.sign_body:
        references.append(f"#{_body_with_id(envelope).get(_WSU_ID)}")
    # signxml copies the whole document it is given; exclusive c14n makes the digests independent of the
    # assertion (the largest part of the message), so it is set aside while the references are digested.
    security.remove(assertion)
    try:
        signature = _signer(options, SignatureConstructionMethod.detached).sign(
            envelope,
            key=identity.private_key,
            reference_uri=references,
            key_info=_token_reference(assertion.get("ID", "")),
        )
    except (SignXMLException, ValueError, TypeError) as exc:
        raise SigningError("the message could not be signed", detail={"reason": type(exc).__name__}) from exc
    finally:
        security.append(assertion)
    security.append(signature)
    _order(
        security,
        {HeaderItem.TIMESTAMP: timestamp, HeaderItem.ASSERTION: assertion, HeaderItem.SIGNATURE: signature},
        options.header_order,
    )
    return envelope
