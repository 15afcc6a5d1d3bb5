"""XML-DSig checks around signxml's ``XMLVerifier`` (W3C XML Signature 1.1; OASIS WSS X.509 Token Profile).

signxml does the cryptography: SignedInfo canonicalization, the signature value, each reference's transforms
and digest, and returns exactly the canonical bytes it verified. This module adds what a WS-Security receiver
needs around it: an algorithm allow-list applied before any work, the certificate from KeyInfo/X509Data,
and the translation of signxml's exceptions into refusals with stable codes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import threading
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree
from signxml.algorithms import DigestAlgorithm as SxDigest
from signxml.algorithms import SignatureMethod
from signxml.exceptions import (
    InvalidCertificate,
    InvalidDigest,
    InvalidInput,
    InvalidSignature,
    SignXMLException,
)
from signxml.verifier import SignatureConfiguration, VerifyResult, XMLVerifier

from gateway.security.options import SHA1_ALGORITHMS, DigestAlgorithm, SignatureAlgorithm
from xca import ns
from xca.errors import (
    DigestMismatchError,
    SecurityHeaderError,
    SecurityRefusedError,
    SignatureInvalidError,
    SignatureWrappingError,
    SignerCertificateExpiredError,
    SignerCertificateNotYetValidError,
    SignerUntrustedError,
    UnsupportedAlgorithmError,
    UnsupportedKeyInfoError,
)
from xca.ns import q

# signxml logs whole canonicalized messages at DEBUG: names, birth dates and patient ids (PHI) would
# reach ordinary logs whenever someone turns DEBUG on. Keep that logger at WARNING whatever the root says.
logging.getLogger("signxml").setLevel(logging.WARNING)

__all__ = [
    "CheckedSignature",
    "IdReferenceResolver",
    "check_signature_algorithms",
    "key_info_certificates",
    "run_verifier",
    "sha1_refused",
]

# Exclusive c14n only (WS-I Basic Security Profile 1.1 R5404/R5412; SAML core §5.4.3): what was signed then
# does not depend on the surrounding document, which also lets verification work on a reduced copy.
_C14N_ALGORITHMS: Final = frozenset({"http://www.w3.org/2001/10/xml-exc-c14n#"})
_TRANSFORMS: Final = _C14N_ALGORITHMS | {"http://www.w3.org/2000/09/xmldsig#enveloped-signature"}
_DS = ns.DS
_SIGNED_INFO: Final = q(_DS, "SignedInfo")
_C14N_METHOD: Final = q(_DS, "CanonicalizationMethod")
_SIGNATURE_METHOD: Final = q(_DS, "SignatureMethod")
_REFERENCE: Final = q(_DS, "Reference")
_DIGEST_METHOD: Final = q(_DS, "DigestMethod")
_TRANSFORM_PATH: Final = f"{q(_DS, 'Transforms')}/{q(_DS, 'Transform')}"

MAX_KEY_INFO_CERTIFICATES: Final = 8
"""Certificates accepted in one KeyInfo (the signer and its intermediates)."""
MAX_REFERENCES: Final = 8
"""References accepted in one signature: each is a digest over a copy of its element, so an unbounded list
is an amplification a trusted sender could use (WS-Security messages sign a handful: Timestamp, Body,
a few header blocks)."""


@dataclass(frozen=True)
class CheckedSignature:
    """A ds:Signature whose algorithms passed the allow-list, and the reference URIs it names."""

    algorithm: SignatureAlgorithm
    reference_uris: tuple[str, ...]
    uses_sha1: bool = False  # RSA-SHA1, or a SHA-1 digest in a reference


def check_signature_algorithms(signature: etree._Element, *, allow_sha1: bool) -> CheckedSignature:
    """Refuse unknown or (unless allowed) SHA-1 algorithms and any transform beyond c14n/enveloped, before the
    signature is processed at all: no XPath or XSLT transform ever runs."""
    signed_info = signature.find(_SIGNED_INFO)
    if signed_info is None:
        raise SecurityHeaderError("a signature has no SignedInfo")
    c14n = signed_info.find(_C14N_METHOD)
    method = signed_info.find(_SIGNATURE_METHOD)
    if c14n is None or c14n.get("Algorithm") not in _C14N_ALGORITHMS:
        raise UnsupportedAlgorithmError("unsupported canonicalization method")
    algorithm_uri = method.get("Algorithm") if method is not None else None
    try:
        algorithm = SignatureAlgorithm(algorithm_uri or "")
    except ValueError:
        raise UnsupportedAlgorithmError(
            "unsupported signature algorithm", detail={"algorithm": algorithm_uri}
        ) from None
    used = {algorithm.value}
    uris: list[str] = []
    references = signed_info.findall(_REFERENCE)
    if not references:
        raise SecurityHeaderError("a signature has no Reference")
    if len(references) > MAX_REFERENCES:
        raise SecurityHeaderError(
            "a signature has too many references", detail={"count": len(references), "limit": MAX_REFERENCES}
        )
    for reference in references:
        uri = reference.get("URI") or ""
        if not uri.startswith("#") or len(uri) < 2:
            raise SignatureWrappingError("a signature reference is not a same-document ID reference")
        if uri[1:] in uris:
            raise SignatureWrappingError("a signature references the same element twice")
        uris.append(uri[1:])
        digest = reference.find(_DIGEST_METHOD)
        digest_uri = digest.get("Algorithm") if digest is not None else None
        try:
            used.add(DigestAlgorithm(digest_uri or "").value)
        except ValueError:
            raise UnsupportedAlgorithmError(
                "unsupported digest algorithm", detail={"algorithm": digest_uri}
            ) from None
        for transform in reference.iterfind(_TRANSFORM_PATH):
            if transform.get("Algorithm") not in _TRANSFORMS:
                raise UnsupportedAlgorithmError(
                    "unsupported transform", detail={"algorithm": transform.get("Algorithm")}
                )
    uses_sha1 = bool(used & SHA1_ALGORITHMS)
    if uses_sha1 and not allow_sha1:
        raise sha1_refused()
    return CheckedSignature(algorithm=algorithm, reference_uris=tuple(uris), uses_sha1=uses_sha1)


def sha1_refused() -> UnsupportedAlgorithmError:
    """The refusal of a signature using SHA-1 from a partner not allowed it."""
    return UnsupportedAlgorithmError("SHA-1 is not accepted from this partner", detail={"algorithm": "SHA-1"})


def _der(text: str | None) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(base64.b64decode("".join((text or "").split()), validate=True))
    except (ValueError, binascii.Error):
        raise UnsupportedKeyInfoError("an X509Certificate in KeyInfo cannot be read") from None


def key_info_certificates(
    key_info: etree._Element | None,
) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    """The signing certificate and any further certificates from ``ds:KeyInfo/ds:X509Data``. The leaf is the
    certificate that issued none of the others (senders do not agree on order)."""
    texts = (
        key_info.findall(f"{q(_DS, 'X509Data')}/{q(_DS, 'X509Certificate')}") if key_info is not None else []
    )
    if not texts:
        raise UnsupportedKeyInfoError("the signing key is not given as an X509Certificate")
    if len(texts) > MAX_KEY_INFO_CERTIFICATES:
        # every certificate given goes into chain building, which an unauthenticated sender could otherwise
        # make arbitrarily expensive by padding KeyInfo; no real chain is longer than a handful
        raise UnsupportedKeyInfoError(
            "KeyInfo carries too many certificates",
            detail={"count": len(texts), "limit": MAX_KEY_INFO_CERTIFICATES},
        )
    certificates = [_der(t.text) for t in texts]
    if len(certificates) == 1:
        return certificates[0], ()
    issuers = {c.issuer for c in certificates}
    leaves = [c for c in certificates if c.subject not in issuers or len(certificates) == 1]
    leaf = leaves[0] if leaves else certificates[0]
    return leaf, tuple(c for c in certificates if c is not leaf)


def rsa_key_value(key_info: etree._Element) -> rsa.RSAPublicNumbers | None:
    """An ``RSAKeyValue`` in KeyInfo as public numbers, or None."""
    value = key_info.find(f"{q(_DS, 'KeyValue')}/{q(_DS, 'RSAKeyValue')}")
    if value is None:
        return None
    try:
        modulus = base64.b64decode("".join((value.findtext(q(_DS, "Modulus")) or "").split()), validate=True)
        exponent = base64.b64decode(
            "".join((value.findtext(q(_DS, "Exponent")) or "").split()), validate=True
        )
    except (ValueError, binascii.Error):
        raise UnsupportedKeyInfoError("an RSAKeyValue cannot be read") from None
    return rsa.RSAPublicNumbers(int.from_bytes(exponent, "big"), int.from_bytes(modulus, "big"))


def _allowed(allow_sha1: bool) -> tuple[frozenset[SignatureMethod], frozenset[SxDigest]]:
    methods = frozenset(
        SignatureMethod(a.value) for a in SignatureAlgorithm if allow_sha1 or a.value not in SHA1_ALGORITHMS
    )
    digests = frozenset(
        SxDigest(a.value) for a in DigestAlgorithm if allow_sha1 or a.value not in SHA1_ALGORITHMS
    )
    return methods, digests


_ALLOWED: Final = {flag: _allowed(flag) for flag in (False, True)}


def _config(
    location: str, *, allow_sha1: bool, now: dt.datetime, references: int | bool
) -> SignatureConfiguration:
    methods, digests = _ALLOWED[allow_sha1]
    return SignatureConfiguration(
        require_x509=True,
        location=location,
        expect_references=references,
        signature_methods=methods,
        digest_algorithms=digests,
        verification_time=now,
    )


def _refusal(exc: SignXMLException) -> SecurityRefusedError:
    text = str(exc)
    if isinstance(exc, InvalidDigest):
        return DigestMismatchError("signed content was changed after signing")
    if isinstance(exc, InvalidCertificate):
        if "expired" in text:
            return SignerCertificateExpiredError("the signing certificate has expired")
        if "not yet valid" in text:
            return SignerCertificateNotYetValidError("the signing certificate is not valid yet")
        return SignerUntrustedError("the signing certificate is not acceptable")
    if isinstance(exc, InvalidSignature):
        return SignatureInvalidError("a signature value does not verify")
    if isinstance(exc, InvalidInput):
        if "resolve reference" in text or "Ambiguous reference" in text:
            return SignatureWrappingError("a signature reference does not resolve to exactly one element")
        if "forbidden by configuration" in text:
            return UnsupportedAlgorithmError("algorithm not accepted")
        return SecurityHeaderError("a signature is malformed")
    return SecurityHeaderError("a signature cannot be processed")


class IdReferenceResolver:
    """Mixin for signxml's verifier: resolves same-document ``#id`` references to the same element signxml
    does, with a cheaper query.

    signxml tries each name in ``id_attributes`` in turn with ``//*[@*[local-name() = name] = $uri]``, an
    attribute predicate evaluated for every element (about half the cost of a reference on our messages). The
    query here selects the attribute nodes themselves, by local name and value, and takes their elements:
    the same elements (each once, document order), the same per-name order and the same refusals (more than
    one element: ambiguous; none under any name: unresolved). Every other URI form goes to signxml unchanged.
    """

    id_attributes: tuple[str, ...]
    _id_query: etree.XPath | None = None

    def _resolve_reference(
        self,
        doc_root: etree._Element,
        reference: etree._Element | dict[str, str],
        uri_resolver: object = None,
    ) -> etree._Element:
        uri = reference.get("URI")
        if uri is None or not uri.startswith("#") or uri.startswith("#xpointer("):
            resolved: etree._Element = super()._resolve_reference(  # type: ignore[misc]
                doc_root, reference, uri_resolver=uri_resolver
            )
            return resolved
        if self._id_query is None:
            # compiled once per instance; instances are per thread (see _verifier and wss._signer)
            self._id_query = etree.XPath("//@*[local-name() = $name][. = $value]")
        value = uri.lstrip("#")  # as signxml does
        for name in self.id_attributes:
            found: list[etree._Element] = []
            for attribute in self._id_query(doc_root, name=name, value=value):
                element = attribute.getparent()
                if not any(element is seen for seen in found):
                    found.append(element)
            if len(found) > 1:
                raise InvalidInput(f"Ambiguous reference URI {uri} resolved to {len(found)} nodes")
            if found:
                return found[0]
        raise InvalidInput(f"Unable to resolve reference URI: {uri}")


_local = threading.local()


class _Verifier(IdReferenceResolver, XMLVerifier):
    """signxml's verifier with shortcuts that change nothing it checks or returns:

    * ``get_root``: signxml copies the element it is given (serialize, parse) and then only reads that copy:
      it serializes it again for every further copy (the signature, one whole-document copy per reference,
      which the enveloped-signature transform may change) and never changes it. Reading the element itself is
      the same: lxml serializes an element with every namespace declaration in scope from its ancestors, as
      the copy had them, so InclusiveNamespaces prefix lists still see them;
    * ``_resolve_reference``: see :class:`IdReferenceResolver`;
    * a certificate's description (its subject as an RFC 4514 string, a measurable share of a verification)
      is only built when the certificate is outside its validity period and the description goes into the
      refusal.
    """

    def get_root(self, data: object) -> etree._Element:
        if not isinstance(data, etree._Element):
            raise TypeError("only parsed elements are verified here")
        return data

    def _get_cert_validity_error(self, cert: x509.Certificate, cert_source: str) -> str | None:
        at = self._get_cert_verification_time()  # type: ignore[no-untyped-call]
        if cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            return None
        message: str | None = super()._get_cert_validity_error(cert, cert_source)  # type: ignore[no-untyped-call]
        return message


def _verifier(id_attribute: str | None) -> XMLVerifier:
    # XMLVerifier keeps per-call state and a parser on the instance: one per thread and ID attribute name,
    # reused (parser creation is a measurable share of a small message's cost). ``id_attribute`` is kept on
    # the instance by signxml, hence one instance per name.
    cache: dict[str | None, XMLVerifier] = _local.__dict__.setdefault("verifiers", {})
    verifier = cache.get(id_attribute)
    if verifier is None:
        verifier = cache[id_attribute] = _Verifier()
        if id_attribute is not None:
            verifier.id_attributes = (id_attribute,)
    return verifier


def run_verifier(
    data: etree._Element,
    *,
    certificate: x509.Certificate,
    location: str,
    allow_sha1: bool,
    now: dt.datetime,
    references: int | bool,
    id_attribute: str | None = None,
) -> list[VerifyResult]:
    """signxml's verification of the signature at ``location`` with the already-trusted ``certificate``.

    ``id_attribute`` restricts the attribute (by local name) that reference URIs are resolved against; by
    default signxml tries Id, ID, id and xml:id in turn, scanning the whole document for each.
    """
    config = _config(location, allow_sha1=allow_sha1, now=now, references=references)
    try:
        result = _verifier(id_attribute).verify(data, x509_cert=certificate, expect_config=config)
    except SignXMLException as exc:
        raise _refusal(exc) from exc
    except (etree.LxmlError, ValueError, TypeError, NotImplementedError) as exc:
        # NotImplementedError: signxml meets a key form it does not support (e.g. an EC DEREncodedKeyValue
        # added to KeyInfo); whatever the sender put there, it is the sender's fault, never a 500
        raise SecurityHeaderError("a signature cannot be processed") from exc
    return result if isinstance(result, list) else [result]
