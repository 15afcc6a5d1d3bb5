"""Making the XML signatures of our own outgoing messages (W3C XML Signature 1.1, RSA PKCS#1 v1.5, exclusive
c14n 1.0 without an InclusiveNamespaces prefix list, as WS-I BSP 1.1 and SAML core §5.4 ask).

The output is byte for byte what signxml's ``XMLSigner`` writes for the same tree, key and algorithms (RSA
PKCS#1 v1.5 signatures are deterministic, so ``tests/gateway/security/test_xmlsign.py`` compares the two
signers' serialized messages for every algorithm pair a partner can be configured with). The
cryptography and the canonicalization are the same libraries' (``cryptography``, libxml2's c14n through
lxml); what this module leaves out is signxml's generality, measured at about half a millisecond per
signature on top of the RSA operation: parsing its inputs anew, resolving references by scanning the
document, copying the payload, building transforms for algorithms we never use. Only signing happens here:
every signature that arrives is verified by signxml (:mod:`gateway.security.dsig`).

* :func:`sign_enveloped`: a signed copy of an element holding one ``ds:Signature Id="placeholder"``
  (the SAML assertion), digested with the enveloped-signature transform;
* :func:`sign_detached`: a ``ds:Signature`` over elements of a message by their ID (the WS-Security
  message signature over ``wsu:Timestamp`` and ``soap:Body``), digested where they stand.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Callable, Sequence
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from gateway.security.options import SHA1_ALGORITHMS, DigestAlgorithm, SignatureAlgorithm
from xca import ns
from xca.errors import SigningError
from xca.ns import q

__all__ = [
    "PLACEHOLDER_ID",
    "c14n",
    "check_key",
    "digest_value",
    "sign_detached",
    "sign_enveloped",
    "signature_value",
    "signed_info",
]

PLACEHOLDER_ID: Final = "placeholder"
"""The ``Id`` of the ``ds:Signature`` element an enveloped signature replaces (signxml's convention)."""

_EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
_ENVELOPED: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_NSMAP: Final = {"ds": ns.DS}
_SIGNATURE: Final = q(ns.DS, "Signature")
_SIGNED_INFO: Final = q(ns.DS, "SignedInfo")
_C14N_METHOD: Final = q(ns.DS, "CanonicalizationMethod")
_SIGNATURE_METHOD: Final = q(ns.DS, "SignatureMethod")
_REFERENCE: Final = q(ns.DS, "Reference")
_TRANSFORMS: Final = q(ns.DS, "Transforms")
_TRANSFORM: Final = q(ns.DS, "Transform")
_DIGEST_METHOD: Final = q(ns.DS, "DigestMethod")
_DIGEST_VALUE: Final = q(ns.DS, "DigestValue")
_SIGNATURE_VALUE: Final = q(ns.DS, "SignatureValue")

_DIGESTS: Final[dict[DigestAlgorithm, Callable[[bytes], hashlib._Hash]]] = {
    DigestAlgorithm.SHA256: hashlib.sha256,
    DigestAlgorithm.SHA384: hashlib.sha384,
    DigestAlgorithm.SHA512: hashlib.sha512,
    DigestAlgorithm.SHA1: hashlib.sha1,
}
_SIGNATURE_HASHES: Final[dict[SignatureAlgorithm, Callable[[], hashes.HashAlgorithm]]] = {
    SignatureAlgorithm.RSA_SHA256: hashes.SHA256,
    SignatureAlgorithm.RSA_SHA384: hashes.SHA384,
    SignatureAlgorithm.RSA_SHA512: hashes.SHA512,
    SignatureAlgorithm.RSA_SHA1: hashes.SHA1,
}


def c14n(element: etree._Element) -> bytes:
    """Exclusive c14n 1.0 without comments, the form every signature here digests and signs."""
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def check_key(
    key: object, signature_algorithm: SignatureAlgorithm, digest_algorithm: DigestAlgorithm, allow_sha1: bool
) -> rsa.RSAPrivateKey:
    """``key`` as the RSA key it must be, once the algorithms are allowed (SHA-1 only with ``allow_sha1``)."""
    if {signature_algorithm.value, digest_algorithm.value} & SHA1_ALGORITHMS and not allow_sha1:
        raise SigningError(
            "SHA-1 is only used for a partner configured with allow_sha1",
            detail={"reason": "InvalidInput"},
        )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningError("the signing key is not an RSA key", detail={"reason": "InvalidInput"})
    return key


def digest_value(canonical: bytes, algorithm: DigestAlgorithm) -> str:
    """The base64 ``ds:DigestValue`` of canonical bytes."""
    return base64.b64encode(_DIGESTS[algorithm](canonical).digest()).decode()


def signature_value(key: rsa.RSAPrivateKey, signed_info: bytes, algorithm: SignatureAlgorithm) -> str:
    """The base64 ``ds:SignatureValue`` over a canonical ``ds:SignedInfo``."""
    signed = key.sign(signed_info, padding.PKCS1v15(), _SIGNATURE_HASHES[algorithm]())
    return base64.b64encode(signed).decode()


def signed_info(
    references: Sequence[tuple[str, str]],
    *,
    enveloped: bool,
    signature_algorithm: SignatureAlgorithm,
    digest_algorithm: DigestAlgorithm,
    parent: etree._Element | None = None,
) -> etree._Element:
    """``ds:SignedInfo`` (exclusive c14n) with one Reference per (URI, digest value), under ``parent`` or on
    its own."""
    if parent is None:
        info = etree.Element(_SIGNED_INFO, nsmap=_NSMAP)
    else:
        info = etree.SubElement(parent, _SIGNED_INFO, nsmap=_NSMAP)
    etree.SubElement(info, _C14N_METHOD, Algorithm=_EXC_C14N)
    etree.SubElement(info, _SIGNATURE_METHOD, Algorithm=signature_algorithm.value)
    for uri, value in references:
        reference = etree.SubElement(info, _REFERENCE, URI=uri)
        transforms = etree.SubElement(reference, _TRANSFORMS)
        if enveloped:
            etree.SubElement(transforms, _TRANSFORM, Algorithm=_ENVELOPED)
        etree.SubElement(transforms, _TRANSFORM, Algorithm=_EXC_C14N)
        etree.SubElement(reference, _DIGEST_METHOD, Algorithm=digest_algorithm.value)
        etree.SubElement(reference, _DIGEST_VALUE).text = value
    return info


def _complete(
    signature: etree._Element,
    references: Sequence[tuple[str, bytes]],
    *,
    enveloped: bool,
    key: rsa.RSAPrivateKey,
    signature_algorithm: SignatureAlgorithm,
    digest_algorithm: DigestAlgorithm,
    key_info: etree._Element,
) -> None:
    """Fill ``signature`` (empty): SignedInfo with one Reference per (URI, canonical bytes), the value, the
    KeyInfo."""
    info = signed_info(
        [(uri, digest_value(canonical, digest_algorithm)) for uri, canonical in references],
        enveloped=enveloped,
        signature_algorithm=signature_algorithm,
        digest_algorithm=digest_algorithm,
        parent=signature,
    )
    etree.SubElement(signature, _SIGNATURE_VALUE).text = signature_value(key, c14n(info), signature_algorithm)
    signature.append(key_info)


def sign_enveloped(
    element: etree._Element,
    *,
    key: object,
    key_info: etree._Element,
    signature_algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA_SHA256,
    digest_algorithm: DigestAlgorithm = DigestAlgorithm.SHA256,
    allow_sha1: bool = False,
) -> etree._Element:
    """A signed copy of ``element``: its one ``ds:Signature Id="placeholder"`` descendant becomes the
    signature over the element (Reference ``#`` + its ``ID`` or ``Id``; enveloped-signature transform, then
    exclusive c14n), ``key_info`` its KeyInfo. ``element`` itself is left as it was."""
    rsa_key = check_key(key, signature_algorithm, digest_algorithm, allow_sha1)
    signed = copy.deepcopy(element)
    placeholders = signed.findall(f".//{_SIGNATURE}[@Id='{PLACEHOLDER_ID}']")
    if len(placeholders) != 1:
        raise SigningError(
            "an enveloped signature needs exactly one ds:Signature placeholder",
            detail={"reason": "InvalidInput"},
        )
    signature = placeholders[0]
    if len(signature) or (signature.text or "").strip():
        raise SigningError("the signature placeholder is not empty", detail={"reason": "InvalidInput"})
    identifier = signed.get("ID", signed.get("Id"))
    uri = f"#{identifier}" if identifier is not None else ""
    # The enveloped-signature transform drops the Signature element and nothing else: text after it stays.
    parent = signature.getparent()
    assert parent is not None  # a descendant of ``signed``
    index, tail = parent.index(signature), signature.tail
    previous = signature.getprevious()
    held = previous.tail if previous is not None else parent.text
    if tail:
        if previous is not None:
            previous.tail = (held or "") + tail
        else:
            parent.text = (held or "") + tail
    parent.remove(signature)
    canonical = c14n(signed)
    if previous is not None:
        previous.tail = held
    else:
        parent.text = held
    parent.insert(index, signature)
    signature.tail = tail
    del signature.attrib["Id"]
    _complete(
        signature,
        [(uri, canonical)],
        enveloped=True,
        key=rsa_key,
        signature_algorithm=signature_algorithm,
        digest_algorithm=digest_algorithm,
        key_info=key_info,
    )
    return signed


def sign_detached(
    references: Sequence[etree._Element],
    *,
    key: object,
    key_info: etree._Element,
    id_attribute: str,
    signature_algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA_SHA256,
    digest_algorithm: DigestAlgorithm = DigestAlgorithm.SHA256,
    allow_sha1: bool = False,
) -> etree._Element:
    """A new ``ds:Signature`` with one Reference per element of ``references`` (``#`` + its
    ``id_attribute``; exclusive c14n of the element where it stands), ``key_info`` its KeyInfo. The caller
    places it; the elements are not changed."""
    rsa_key = check_key(key, signature_algorithm, digest_algorithm, allow_sha1)
    if not references:
        raise SigningError("a signature needs at least one reference", detail={"reason": "InvalidInput"})
    digested: list[tuple[str, bytes]] = []
    for element in references:
        identifier = element.get(id_attribute)
        if not identifier:
            raise SigningError("a referenced element has no ID", detail={"reason": "InvalidInput"})
        digested.append((f"#{identifier}", c14n(element)))
    signature = etree.Element(_SIGNATURE, nsmap=_NSMAP)
    _complete(
        signature,
        digested,
        enveloped=False,
        key=rsa_key,
        signature_algorithm=signature_algorithm,
        digest_algorithm=digest_algorithm,
        key_info=key_info,
    )
    return signature
