"""WS-Security for outgoing messages: the signed assertion and the holder-of-key message signature.

OASIS WSS 1.1 SOAP Message Security (§5 Security header, §8 signatures, §10 Timestamp) and the SAML Token
Profile 1.1 (§3.4.2 SecurityTokenReference with a SAMLID KeyIdentifier, §3.5 holder-of-key); IHE ITI TF-2b
3.40.
Signatures are made by :mod:`gateway.security.xmlsign` (signxml's output, byte for byte, without its
per-call generality) with exclusive c14n: the assertion carries an enveloped signature with its certificate;
the message signature covers ``wsu:Timestamp`` (and the ``soap:Body`` unless the partner says
otherwise) and its KeyInfo points at the assertion by ID, proving possession of the key the assertion
confirms.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import uuid
from collections.abc import Sequence
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from signxml.util import strip_pem_header

from gateway.security.options import HeaderItem, PartnerSecurityOptions, SigningIdentity
from gateway.security.saml import xml_datetime
from gateway.security.xmlsign import sign_detached, sign_enveloped
from xca import ns
from xca.errors import SigningError
from xca.ns import q

__all__ = [
    "SAMLID_VALUE_TYPE",
    "SAMLV2_TOKEN_TYPE",
    "WSSE11",
    "add_timestamp",
    "body_with_id",
    "ensure_security_header",
    "new_timestamp_id",
    "sign_assertion",
    "sign_message",
    "timestamp_element",
    "token_reference",
    "x509_key_info",
    "x509_key_info_of",
]

WSSE11: Final = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd"
SAMLID_VALUE_TYPE: Final = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLID"
SAMLV2_TOKEN_TYPE: Final = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0"  # noqa: S105
_WSU_ID: Final = q(ns.WSU, "Id")
_TEMPLATES_PER_THREAD: Final = 16

_local = threading.local()


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


def _x509_key_info_template(certificates: tuple[x509.Certificate, ...]) -> etree._Element:
    # signxml's own formatting of a ``cert=`` certificate (PEM body, line breaks kept), made once per
    # identity and thread (trees are not shared between threads here) and only ever copied
    templates: dict[tuple[x509.Certificate, ...], etree._Element] = _local.__dict__.setdefault(
        "key_infos", {}
    )
    key_info = templates.get(certificates)
    if key_info is None:
        if len(templates) >= _TEMPLATES_PER_THREAD:
            templates.clear()
        key_info = templates[certificates] = etree.Element(q(ns.DS, "KeyInfo"), nsmap={"ds": ns.DS})
        x509_data = etree.SubElement(key_info, q(ns.DS, "X509Data"))
        for certificate in certificates:
            text = strip_pem_header(certificate.public_bytes(Encoding.PEM))  # type: ignore[no-untyped-call]
            etree.SubElement(x509_data, q(ns.DS, "X509Certificate")).text = text
    return key_info


def x509_key_info_of(certificates: tuple[x509.Certificate, ...]) -> etree._Element:
    """``ds:KeyInfo/ds:X509Data`` with these certificates, exactly as signxml writes it for ``cert=``
    (base64 text as in PEM): a copy of one made once per certificate list."""
    return copy.deepcopy(_x509_key_info_template(certificates))


def x509_key_info(identity: SigningIdentity) -> etree._Element:
    """:func:`x509_key_info_of` the identity's certificate and chain."""
    return x509_key_info_of((identity.certificate, *identity.chain))


def sign_assertion(
    assertion: etree._Element, *, identity: SigningIdentity, options: PartnerSecurityOptions
) -> etree._Element:
    """A signed copy of ``assertion``: enveloped RSA signature at its ``ds:Signature`` placeholder, with the
    signing certificate (and chain) in KeyInfo/X509Data. Reference URI is ``#`` + the assertion ID."""
    if not assertion.get("ID"):
        raise SigningError("the assertion has no ID to sign", detail={"reason": "InvalidInput"})
    try:
        return sign_enveloped(
            assertion,
            key=identity.private_key,
            key_info=x509_key_info(identity),
            signature_algorithm=options.signature_algorithm,
            digest_algorithm=options.digest_algorithm,
            allow_sha1=options.allow_sha1,
        )
    except (ValueError, TypeError) as exc:
        raise SigningError(
            "the assertion could not be signed", detail={"reason": type(exc).__name__}
        ) from exc


def _timestamp_template() -> etree._Element:
    timestamp: etree._Element | None = getattr(_local, "timestamp", None)
    if timestamp is None:
        timestamp = _local.timestamp = etree.Element(q(ns.WSU, "Timestamp"), nsmap={"wsu": ns.WSU})
        timestamp.set(_WSU_ID, "")
        etree.SubElement(timestamp, q(ns.WSU, "Created"))
        etree.SubElement(timestamp, q(ns.WSU, "Expires"))
    return timestamp


def timestamp_element(identifier: str, created: str, expires: str) -> etree._Element:
    """A ``wsu:Timestamp`` with this ``wsu:Id`` and these Created and Expires (xs:dateTime text)."""
    # copied from a template: cheaper than making the three elements and their namespace declaration anew
    timestamp = copy.deepcopy(_timestamp_template())
    timestamp.set(_WSU_ID, identifier)
    timestamp[0].text = created
    timestamp[1].text = expires
    return timestamp


def new_timestamp_id() -> str:
    """A fresh ``wsu:Id`` for a Timestamp."""
    return f"TS-{uuid.uuid4()}"


def add_timestamp(
    security: etree._Element, *, created: dt.datetime, lifetime: dt.timedelta
) -> etree._Element:
    """Append a ``wsu:Timestamp`` (Created, Expires) with a fresh ``wsu:Id`` to ``security``."""
    timestamp = timestamp_element(new_timestamp_id(), xml_datetime(created), xml_datetime(created + lifetime))
    security.append(timestamp)
    return timestamp


def token_reference(assertion_id: str) -> etree._Element:
    """The message signature's ``ds:KeyInfo``: a SecurityTokenReference to the assertion by its ID."""
    key_info = etree.Element(q(ns.DS, "KeyInfo"), nsmap={"ds": ns.DS})
    reference = etree.SubElement(
        key_info, q(ns.WSSE, "SecurityTokenReference"), nsmap={"wsse": ns.WSSE, "wsse11": WSSE11}
    )
    reference.set(q(WSSE11, "TokenType"), SAMLV2_TOKEN_TYPE)
    identifier = etree.SubElement(reference, q(ns.WSSE, "KeyIdentifier"), ValueType=SAMLID_VALUE_TYPE)
    identifier.text = assertion_id
    return key_info


def body_with_id(envelope: etree._Element) -> etree._Element:
    """The envelope's ``soap:Body``, given a fresh ``wsu:Id`` if it has none."""
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
    references = [timestamp]
    if options.sign_body:
        references.append(body_with_id(envelope))
    try:
        signature = sign_detached(
            references,
            key=identity.private_key,
            key_info=token_reference(assertion.get("ID", "")),
            id_attribute=_WSU_ID,
            signature_algorithm=options.signature_algorithm,
            digest_algorithm=options.digest_algorithm,
            allow_sha1=options.allow_sha1,
        )
    except (ValueError, TypeError) as exc:
        raise SigningError("the message could not be signed", detail={"reason": type(exc).__name__}) from exc
    security.append(signature)
    _order(
        security,
        {HeaderItem.TIMESTAMP: timestamp, HeaderItem.ASSERTION: assertion, HeaderItem.SIGNATURE: signature},
        options.header_order,
    )
    return envelope
