"""The security header of an outgoing request, written as canonical text.

Every request carries the same assertion, Timestamp and two ``ds:Signature`` elements but for a few values:
IDs, instants, the audience, the resource-id, digests and signature values. Building, copying, canonicalizing
and serializing those trees cost about as much as the two RSA signatures themselves. So each is built once by
the same lxml builders the step functions use (:func:`gateway.security.saml.assertion_with`,
:func:`gateway.security.wss.timestamp_element`, :func:`gateway.security.xmlsign.signed_info`, ...) with marker
values, put in its exclusive c14n form (what the signatures cover), and kept as that text cut at the markers
(:class:`CanonicalText`). A message then fills the texts with its values escaped as c14n escapes them, digests
and signs the filled text, and splices the security header into the envelope's serialization.

Canonical text is well-formed XML whose canonical form is itself, wherever it is placed: each piece declares
the namespaces it uses, so a verifier canonicalizing the assertion, the Timestamp or a SignedInfo where it
stands gets back the bytes digested or signed here. The signatures are those the step functions make for the
same values (RSA PKCS#1 v1.5 is deterministic): ``tests/gateway/security/test_canonical.py`` compares them,
and the interoperability tests verify these messages with signxml and xmlsec1.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from enum import Enum
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from gateway.security.options import (
    DigestAlgorithm,
    HeaderItem,
    IssuerConfig,
    PartnerSecurityOptions,
    SignatureAlgorithm,
    SigningIdentity,
)
from gateway.security.saml import AssertionInput, AssertionValues, assertion_with, xml_datetime
from gateway.security.user import RequestingUser
from gateway.security.wss import (
    body_with_id,
    new_timestamp_id,
    timestamp_element,
    token_reference,
    x509_key_info_of,
)
from gateway.security.xmlsign import c14n, check_key, digest_value, signature_value, signed_info
from xca import ns
from xca.errors import SigningError
from xca.ids import Cx
from xca.ns import q
from xca.soap import to_bytes

__all__ = [
    "CanonicalText",
    "assertion_text",
    "mark",
    "not_xml_error",
    "signature_text",
    "signed_info_text",
    "timestamp_text",
    "token_reference_text",
    "write_security_header",
    "x509_key_info_text",
]

# A marker is two private-use characters around a token drawn once per process and a name: a value cannot
# name a slot by chance or on purpose, and any value holding either character makes its template refused.
_OPEN, _CLOSE = "\ue000", "\ue001"
_TOKEN: Final = secrets.token_hex(8)
_MARK: Final = re.compile(f"{_OPEN}{_TOKEN}([a-z0-9_]+){_CLOSE}")
# Characters XML 1.0 allows (§2.2); lxml refuses the others, and so does this module.
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# What c14n writes as it is in text and attributes alike (most values: IDs, instants, base64).
_PLAIN: Final = re.compile("[\x20\x21\x23-\x25\x27-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")
# Exclusive c14n's escapes (Canonical XML 1.0 §2.3): text nodes, attribute values.
_TEXT_ESCAPES: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#xD;"})
_ATTRIBUTE_ESCAPES: Final = str.maketrans(
    {"&": "&amp;", "<": "&lt;", '"': "&quot;", "\t": "&#x9;", "\n": "&#xA;", "\r": "&#xD;"}
)


def mark(name: str) -> str:
    """The marker a template holds where the value ``name`` goes."""
    return f"{_OPEN}{_TOKEN}{name}{_CLOSE}"


class _Kind(Enum):
    TEXT = "text"  # a whole text node
    ATTRIBUTE = "attribute"  # a whole attribute value
    MARKUP = "markup"  # canonical text of its own, placed as is


def not_xml_error() -> SigningError:
    """The error for a value holding a character XML cannot carry (this module's check or lxml's)."""
    return SigningError("a value holds characters XML cannot carry", detail={"reason": "InvalidInput"})


def _escaped(value: str, kind: _Kind) -> str:
    if kind is _Kind.MARKUP or _PLAIN.fullmatch(value):
        return value
    if _NOT_XML.search(value):
        raise not_xml_error()
    return value.translate(_TEXT_ESCAPES if kind is _Kind.TEXT else _ATTRIBUTE_ESCAPES)


@dataclass(frozen=True)
class CanonicalText:
    """Canonical text cut at its markers: ``parts`` around ``slots`` (name and kind of each)."""

    parts: tuple[str, ...]
    slots: tuple[tuple[str, _Kind], ...]

    @classmethod
    def of(cls, canonical: str, *, markup: frozenset[str] = frozenset()) -> CanonicalText:
        """Cut ``canonical`` at its markers. A marker in ``markup`` stands for canonical text; any other must
        be a whole attribute value or a whole text node. ``ValueError`` when the text holds marker characters
        that are not a marker (a value of the template's own that could not be told apart)."""
        pieces = _MARK.split(canonical)
        parts, names = tuple(pieces[0::2]), pieces[1::2]
        if any(_OPEN in part or _CLOSE in part for part in parts):
            raise ValueError("the template's own values hold marker characters")
        slots: list[tuple[str, _Kind]] = []
        for index, name in enumerate(names):
            before, after = parts[index], parts[index + 1]
            if name in markup:
                kind = _Kind.MARKUP
            elif before.endswith('="') and after.startswith('"'):
                kind = _Kind.ATTRIBUTE
            elif before.endswith(">") and after.startswith("<"):
                kind = _Kind.TEXT
            else:
                raise ValueError(f"the marker {name} is not a whole value")
            slots.append((name, kind))
        return cls(parts, tuple(slots))

    def fill(self, values: dict[str, str]) -> str:
        """The text with each marker replaced by its value, escaped as c14n writes it."""
        out = [self.parts[0]]
        for (name, kind), part in zip(self.slots, self.parts[1:], strict=True):
            out.append(_escaped(values[name], kind))
            out.append(part)
        return "".join(out)


def _text(element: etree._Element, *, markup: frozenset[str] = frozenset()) -> CanonicalText:
    return CanonicalText.of(c14n(element).decode(), markup=markup)


@functools.lru_cache(maxsize=64)
def assertion_text(
    user: RequestingUser, issuer: IssuerConfig, holder_certificate_der: bytes, with_resource: bool
) -> CanonicalText | None:
    """The assertion for this user, issuer, holder certificate and (whether there is a) resource-id, with
    markers ``id``, ``issued``, ``expires``, ``audience``, ``resource`` and, where its signature goes,
    ``signature``; ``None`` if the user's or issuer's own values hold marker characters (the template must
    hold exactly these markers: the instant three times, every other once)."""
    values = AssertionValues(
        assertion_id=mark("id"),
        issued=mark("issued"),
        not_on_or_after=mark("expires"),
        audience=mark("audience"),
        resource=mark("resource") if with_resource else None,
    )
    try:
        assertion = assertion_with(user, issuer, holder_certificate_der, values)
    except ValueError as exc:  # lxml: a character XML cannot carry, in the issuer's name or format
        raise not_xml_error() from exc
    placeholder = assertion.find(q(ns.DS, "Signature"))
    assert placeholder is not None  # the template has one, right after Issuer
    canonical, hole = c14n(assertion).decode(), c14n(placeholder).decode()
    if canonical.count(hole) != 1:
        return None
    try:
        text = CanonicalText.of(canonical.replace(hole, mark("signature")), markup=frozenset({"signature"}))
    except ValueError:
        return None
    expected = Counter({"id": 1, "issued": 3, "expires": 1, "audience": 1, "signature": 1})
    if with_resource:
        expected["resource"] = 1
    return text if Counter(name for name, _ in text.slots) == expected else None


@functools.lru_cache(maxsize=32)
def signed_info_text(
    references: int,
    *,
    enveloped: bool,
    signature_algorithm: SignatureAlgorithm,
    digest_algorithm: DigestAlgorithm,
) -> CanonicalText:
    """A ``ds:SignedInfo`` with ``references`` References, markers ``uri0``, ``digest0``, ``uri1``, ..."""
    return _text(
        signed_info(
            [(mark(f"uri{n}"), mark(f"digest{n}")) for n in range(references)],
            enveloped=enveloped,
            signature_algorithm=signature_algorithm,
            digest_algorithm=digest_algorithm,
        )
    )


@functools.lru_cache(maxsize=16)
def x509_key_info_text(certificates: tuple[x509.Certificate, ...]) -> str:
    """The assertion signature's ``ds:KeyInfo`` (the certificate and chain) as canonical text."""
    return c14n(x509_key_info_of(certificates)).decode()


@functools.cache
def _signature_template() -> CanonicalText:
    signature = etree.Element(q(ns.DS, "Signature"), nsmap={"ds": ns.DS})
    signature.text = mark("signed_info")
    value = etree.SubElement(signature, q(ns.DS, "SignatureValue"))
    value.text = mark("value")
    value.tail = mark("key_info")
    return _text(signature, markup=frozenset({"signed_info", "key_info"}))


@functools.cache
def _timestamp_template() -> CanonicalText:
    return _text(timestamp_element(mark("id"), mark("created"), mark("expires")))


@functools.cache
def _token_reference_template() -> CanonicalText:
    return _text(token_reference(mark("assertion_id")))


def signature_text(signed_info_canonical: str, value: str, key_info: str) -> str:
    """A ``ds:Signature``: its canonical SignedInfo, the value over it and its KeyInfo (canonical text)."""
    values = {"signed_info": signed_info_canonical, "value": value, "key_info": key_info}
    return _signature_template().fill(values)


def timestamp_text(identifier: str, created: str, expires: str) -> str:
    """A ``wsu:Timestamp`` as canonical text."""
    return _timestamp_template().fill({"id": identifier, "created": created, "expires": expires})


def token_reference_text(assertion_id: str) -> str:
    """The message signature's KeyInfo (a SecurityTokenReference to the assertion) as canonical text."""
    return _token_reference_template().fill({"assertion_id": assertion_id})


_SECURITY_MARK: Final = mark("security").encode()
_WSU_ID: Final = q(ns.WSU, "Id")


def _signature(
    key: rsa.RSAPrivateKey,
    options: PartnerSecurityOptions,
    references: list[tuple[str, bytes]],
    *,
    enveloped: bool,
    key_info: str,
) -> str:
    """A ``ds:Signature`` over (URI, canonical bytes) references, as canonical text."""
    info = signed_info_text(
        len(references),
        enveloped=enveloped,
        signature_algorithm=options.signature_algorithm,
        digest_algorithm=options.digest_algorithm,
    )
    digests: dict[str, str] = {}
    for index, (uri, canonical) in enumerate(references):
        digests[f"uri{index}"] = uri
        digests[f"digest{index}"] = digest_value(canonical, options.digest_algorithm)
    canonical_info = info.fill(digests)
    try:
        value = signature_value(key, canonical_info.encode(), options.signature_algorithm)
    except (ValueError, TypeError) as exc:
        raise SigningError("the message could not be signed", detail={"reason": type(exc).__name__}) from exc
    return signature_text(canonical_info, value, key_info)


def write_security_header(
    envelope: etree._Element,
    security: etree._Element,
    *,
    user: RequestingUser,
    issuer: IssuerConfig,
    identity: SigningIdentity,
    holder_certificate_der: bytes,
    audience: str,
    options: PartnerSecurityOptions,
    now: dt.datetime,
    resource_id: Cx | None,
) -> tuple[bytes, str] | None:
    """``envelope`` serialized with its (empty) ``security`` header holding the signed assertion, the
    Timestamp and the message signature as canonical text, and the assertion's ID; ``None`` when the
    templates cannot hold the user's values or the envelope holds the header's marker. The envelope gains
    the Body's ``wsu:Id`` (when the Body is signed); ``security`` stays empty."""
    key = check_key(
        identity.private_key, options.signature_algorithm, options.digest_algorithm, options.allow_sha1
    )
    template = assertion_text(user, issuer, holder_certificate_der, resource_id is not None)
    if template is None:
        return None
    values = AssertionValues.of(
        AssertionInput(
            issuer=issuer,
            audience=audience,
            issue_instant=now,
            lifetime=options.assertion_lifetime,
            holder_certificate_der=holder_certificate_der,
            resource_id=resource_id,
        )
    )
    timestamp_id = new_timestamp_id()
    body = body_with_id(envelope) if options.sign_body else None
    # The envelope around the header first: one that holds the marker already is the steps' to sign.
    security.text = _SECURITY_MARK.decode()
    try:
        data = to_bytes(envelope)
    finally:
        security.text = None
    if data.count(_SECURITY_MARK) != 1:
        return None
    filled = {
        "id": values.assertion_id,
        "issued": values.issued,
        "expires": values.not_on_or_after,
        "audience": values.audience,
    }
    if values.resource is not None:
        filled["resource"] = values.resource
    enveloped = template.fill({**filled, "signature": ""})  # what the enveloped-signature transform leaves
    signature = _signature(
        key,
        options,
        [(f"#{values.assertion_id}", enveloped.encode())],
        enveloped=True,
        key_info=x509_key_info_text((identity.certificate, *identity.chain)),
    )
    texts = {HeaderItem.ASSERTION: template.fill({**filled, "signature": signature})}
    expires = xml_datetime(now + options.timestamp_lifetime)
    texts[HeaderItem.TIMESTAMP] = timestamp_text(timestamp_id, values.issued, expires)
    references = [(f"#{timestamp_id}", texts[HeaderItem.TIMESTAMP].encode())]
    if body is not None:
        references.append((f"#{body.get(_WSU_ID)}", c14n(body)))
    texts[HeaderItem.SIGNATURE] = _signature(
        key, options, references, enveloped=False, key_info=token_reference_text(values.assertion_id)
    )
    header = "".join(texts[item] for item in options.header_order).encode()
    return data.replace(_SECURITY_MARK, header), values.assertion_id
