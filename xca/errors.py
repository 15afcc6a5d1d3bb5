"""The one exception hierarchy of hie-gateway, with stable error codes.

It lives in ``xca`` because ``xca`` is the innermost layer (stdlib and lxml only): every other package may
import it without pulling in I/O. Codes are grouped by layer and never reused once published::

    HieGatewayError                         HG-0000  root; ``code``, ``message``, ``detail``
    ├── ConfigError(ValueError)             HG-1001  a setting has a bad value
    ├── XmlRefusedError(ValueError)         HG-2xxx  the hardened parser refused inbound bytes
    │   ├── XmlTooLargeError                HG-2001  input over the size limit
    │   ├── XmlSyntaxError                  HG-2002  not well-formed XML (or empty)
    │   ├── XmlDtdForbiddenError            HG-2003  a DOCTYPE declaration (DTDs are never accepted)
    │   ├── XmlExternalDtdError             HG-2004  a DOCTYPE that points at an external DTD
    │   ├── XmlEntityDeclarationError       HG-2005  internal entity declarations (expansion attacks)
    │   ├── XmlExternalEntityError          HG-2006  external entity declarations (XXE: file or URL)
    │   └── XmlTooDeepError                 HG-2007  element nesting over the depth limit
    ├── WireFormatError(ValueError)         HG-21xx  well-formed XML that is not the expected message
    │   ├── UnexpectedMessageError          HG-2101  wrong root element / SOAP action for this transaction
    │   ├── MissingElementError             HG-2102  a required element or attribute is absent
    │   ├── InvalidValueError               HG-2103  a value that cannot be interpreted (e.g. bad OID)
    │   └── MtomFormatError                 HG-2104  a multipart/related (MTOM/XOP) body that cannot be read
    ├── SchemaValidationError               HG-2201  an outgoing message failed the official schema
    ├── SecurityError                       HG-3xxx  message security; each names its wsse ``fault_subcode``
    │   ├── XuaValueError(ValueError)       HG-3001  outbound: a requesting-user / assertion value refused
    │   ├── SigningError                    HG-3002  outbound: the message could not be signed
    │   └── SecurityRefusedError            HG-31xx  inbound: the message fails verification; nothing is used
    │       ├── SecurityHeaderError         HG-3101  wsse:Security missing, repeated or not as expected
    │       ├── DuplicateIdError            HG-3102  one ID/Id value on two elements (wrapping prerequisite)
    │       ├── CommentInjectionError       HG-3103  comment or processing instruction in the security header
    │       ├── UnsignedAssertionError      HG-3104  the SAML assertion carries no signature
    │       ├── SignatureWrappingError      HG-3105  the signed element is not the element in use
    │       ├── SignatureInvalidError       HG-3106  a SignatureValue does not verify
    │       ├── DigestMismatchError         HG-3107  signed content was changed (reference digest)
    │       ├── UnsupportedAlgorithmError   HG-3108  algorithm not allowed (SHA-1 unless configured)
    │       ├── UnsupportedKeyInfoError     HG-3109  the signing key is not given as an X.509 certificate
    │       ├── HolderOfKeyError            HG-3110  message not signed by the key the assertion confirms
    │       ├── SignerUntrustedError        HG-3111  signing certificate does not chain to the trust bundle
    │       ├── SignerCertificateExpiredError HG-3112 signing certificate (or its chain) expired
    │       ├── SignerCertificateNotYetValidError HG-3113 signing certificate not valid yet
    │       ├── AssertionInvalidError       HG-3114  assertion structure (version, subject, conditions, life)
    │       ├── AssertionExpiredError       HG-3115  now is at or after NotOnOrAfter (+ skew)
    │       ├── AssertionNotYetValidError   HG-3116  now is before NotBefore (- skew)
    │       ├── AudienceMismatchError       HG-3117  no AudienceRestriction names this gateway
    │       ├── XuaAttributeMissingError    HG-3118  a required XUA attribute is absent
    │       ├── XuaAttributeInvalidError    HG-3119  an XUA attribute is malformed (NPI, OID, code)
    │       ├── TimestampExpiredError       HG-3120  wsu:Timestamp Expires passed (+ skew)
    │       ├── TimestampNotYetValidError   HG-3121  wsu:Timestamp Created in the future (- skew)
    │       ├── TimestampInvalidError       HG-3122  wsu:Timestamp malformed or too long-lived
    │       ├── ReplayedMessageError        HG-3123  assertion ID or wsa:MessageID seen within its lifetime
    │       ├── TlsPeerMismatchError        HG-3124  the signer is not the mutual-TLS peer (when required)
    │       └── UnsignedBodyError           HG-3125  soap:Body not covered by the message signature
    ├── CertificateError                    HG-4xxx  PKI: loading, matching and validating certificates
    │   ├── CertificateLoadError(ValueError) HG-4001 unreadable PEM/PKCS#12 or missing file
    │   ├── WrongPasswordError(ValueError)  HG-4002  the password does not open the key/PKCS#12
    │   ├── KeyMismatchError(ValueError)    HG-4003  the private key does not belong to the certificate
    │   ├── CertificateExpiredError         HG-4004  a certificate in the chain is past notAfter
    │   ├── CertificateNotYetValidError     HG-4005  a certificate in the chain is before notBefore
    │   ├── UntrustedCertificateError       HG-4006  the chain does not lead to the trust bundle
    │   └── CaKeyMissingError               HG-4007  ``certs init`` found certificates but not the CA key
    ├── StorageError                        HG-5xxx  database and migrations
    │   ├── DatabaseUnavailableError        HG-5001  cannot connect / bad URL
    │   ├── MigrationError                  HG-5002  Alembic could not bring the schema to head
    │   └── DocumentConflictError           HG-5003  same document unique id, different content
    ├── ConversionError                     HG-70xx  C-CDA → FHIR conversion
    │   ├── NotClinicalDocumentError(ValueError) HG-7001 well-formed XML that is not a CDA ClinicalDocument
    │   └── ConversionValidationError       HG-7002  strict mode: the Bundle fails the FHIR R4B models
    ├── CcdaWriteError(ValueError)          HG-7101  FHIR input the C-CDA writer cannot turn into a CCD
    └── AuditError                          HG-8xxx  the compliance audit log
        ├── AuditEventError(ValueError)     HG-8001  an event the audit log refuses (naive time, bad value)
        ├── AuditQueryError(ValueError)     HG-8002  a bad search filter, cursor or export format
        ├── AuditChainError                 HG-8003  verification found a changed, deleted or inserted record
        └── AuditCheckpointError            HG-8004  a purge checkpoint cannot be signed or fails to verify

Later layers (security 3xxx, transport 6xxx, conversion 7xxx, audit 8xxx, API 9xxx) add their subclasses
here. Boundaries render ``code`` and ``message`` as a SOAP Fault, an XDS RegistryError, an XCPD
acknowledgementDetail or a FHIR OperationOutcome. Messages never carry PHI.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from xca.ns import WSSE

__all__ = [
    "AssertionExpiredError",
    "AssertionInvalidError",
    "AssertionNotYetValidError",
    "AudienceMismatchError",
    "AuditChainError",
    "AuditCheckpointError",
    "AuditError",
    "AuditEventError",
    "AuditQueryError",
    "CaKeyMissingError",
    "CcdaWriteError",
    "CertificateError",
    "CertificateExpiredError",
    "CertificateLoadError",
    "CertificateNotYetValidError",
    "CommentInjectionError",
    "ConfigError",
    "ConversionError",
    "ConversionValidationError",
    "DatabaseUnavailableError",
    "DigestMismatchError",
    "DocumentConflictError",
    "DuplicateIdError",
    "HieGatewayError",
    "HolderOfKeyError",
    "InvalidValueError",
    "KeyMismatchError",
    "MigrationError",
    "MissingElementError",
    "MtomFormatError",
    "NotClinicalDocumentError",
    "ReplayedMessageError",
    "SchemaValidationError",
    "SecurityError",
    "SecurityHeaderError",
    "SecurityRefusedError",
    "SignatureInvalidError",
    "SignatureWrappingError",
    "SignerCertificateExpiredError",
    "SignerCertificateNotYetValidError",
    "SignerUntrustedError",
    "SigningError",
    "StorageError",
    "TimestampExpiredError",
    "TimestampInvalidError",
    "TimestampNotYetValidError",
    "TlsPeerMismatchError",
    "UnexpectedMessageError",
    "UnsignedAssertionError",
    "UnsignedBodyError",
    "UnsupportedAlgorithmError",
    "UnsupportedKeyInfoError",
    "UntrustedCertificateError",
    "WireFormatError",
    "WrongPasswordError",
    "WsseFault",
    "XmlDtdForbiddenError",
    "XmlEntityDeclarationError",
    "XmlExternalDtdError",
    "XmlExternalEntityError",
    "XmlRefusedError",
    "XmlSyntaxError",
    "XmlTooDeepError",
    "XmlTooLargeError",
    "XuaAttributeInvalidError",
    "XuaAttributeMissingError",
    "XuaValueError",
]


class HieGatewayError(Exception):
    """Root of every error the project raises on purpose.

    ``code`` is stable and machine-readable; ``message`` is one human sentence without PHI;
    ``detail`` is optional structured context (names of settings, element paths, limits).
    """

    code: ClassVar[str] = "HG-0000"

    def __init__(self, message: str, *, detail: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail: dict[str, object] = dict(detail or {})

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# --- configuration (1xxx) -------------------------------------------------------------------------------


class ConfigError(HieGatewayError, ValueError):
    """A setting has a value the gateway cannot use; ``detail['setting']`` names it."""

    code = "HG-1001"


# --- hardened XML parsing (20xx) ------------------------------------------------------------------------


class XmlRefusedError(HieGatewayError, ValueError):
    """The hardened parser refused inbound bytes; nothing from them was used."""

    code = "HG-2000"


class XmlTooLargeError(XmlRefusedError):
    code = "HG-2001"


class XmlSyntaxError(XmlRefusedError):
    code = "HG-2002"


class XmlDtdForbiddenError(XmlRefusedError):
    code = "HG-2003"


class XmlExternalDtdError(XmlDtdForbiddenError):
    code = "HG-2004"


class XmlEntityDeclarationError(XmlDtdForbiddenError):
    code = "HG-2005"


class XmlExternalEntityError(XmlEntityDeclarationError):
    code = "HG-2006"


class XmlTooDeepError(XmlRefusedError):
    code = "HG-2007"


# --- wire format (21xx, 22xx) ---------------------------------------------------------------------------


class WireFormatError(HieGatewayError, ValueError):
    """Well-formed XML that is not the message the transaction expects."""

    code = "HG-2100"


class UnexpectedMessageError(WireFormatError):
    code = "HG-2101"


class MissingElementError(WireFormatError):
    code = "HG-2102"


class InvalidValueError(WireFormatError):
    code = "HG-2103"


class MtomFormatError(WireFormatError):
    code = "HG-2104"


class SchemaValidationError(HieGatewayError):
    """An outgoing message does not validate against the official schema: a bug on our side."""

    code = "HG-2201"


# --- message security (3xxx) ----------------------------------------------------------------------------


class WsseFault(StrEnum):
    """SOAP Fault subcodes of OASIS WSS 1.1 (SOAP Message Security §12), as Clark-notation QNames."""

    UNSUPPORTED_SECURITY_TOKEN = f"{{{WSSE}}}UnsupportedSecurityToken"
    UNSUPPORTED_ALGORITHM = f"{{{WSSE}}}UnsupportedAlgorithm"
    INVALID_SECURITY = f"{{{WSSE}}}InvalidSecurity"
    INVALID_SECURITY_TOKEN = f"{{{WSSE}}}InvalidSecurityToken"
    FAILED_AUTHENTICATION = f"{{{WSSE}}}FailedAuthentication"
    FAILED_CHECK = f"{{{WSSE}}}FailedCheck"
    SECURITY_TOKEN_UNAVAILABLE = f"{{{WSSE}}}SecurityTokenUnavailable"
    MESSAGE_EXPIRED = f"{{{WSSE}}}MessageExpired"


class SecurityError(HieGatewayError):
    """Message security (SAML XUA, WS-Security, TLS); ``fault_subcode`` is the wsse Fault subcode."""

    code = "HG-3000"
    fault_subcode: ClassVar[WsseFault] = WsseFault.INVALID_SECURITY


class XuaValueError(SecurityError, ValueError):
    """Outbound: a requesting-user or assertion value refused before sending (``detail['field']``)."""

    code = "HG-3001"


class SigningError(SecurityError):
    """Outbound: the message could not be signed (key does not fit, library failure)."""

    code = "HG-3002"


class SecurityRefusedError(SecurityError):
    """Inbound: the message failed verification; nothing from it may be used, stored or answered with data."""

    code = "HG-3100"


class SecurityHeaderError(SecurityRefusedError):
    code = "HG-3101"


class DuplicateIdError(SecurityRefusedError):
    code = "HG-3102"


class CommentInjectionError(SecurityRefusedError):
    code = "HG-3103"


class UnsignedAssertionError(SecurityRefusedError):
    code = "HG-3104"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class SignatureWrappingError(SecurityRefusedError):
    code = "HG-3105"
    fault_subcode = WsseFault.FAILED_CHECK


class SignatureInvalidError(SecurityRefusedError):
    code = "HG-3106"
    fault_subcode = WsseFault.FAILED_CHECK


class DigestMismatchError(SecurityRefusedError):
    code = "HG-3107"
    fault_subcode = WsseFault.FAILED_CHECK


class UnsupportedAlgorithmError(SecurityRefusedError):
    code = "HG-3108"
    fault_subcode = WsseFault.UNSUPPORTED_ALGORITHM


class UnsupportedKeyInfoError(SecurityRefusedError):
    code = "HG-3109"
    fault_subcode = WsseFault.UNSUPPORTED_SECURITY_TOKEN


class HolderOfKeyError(SecurityRefusedError):
    code = "HG-3110"
    fault_subcode = WsseFault.FAILED_AUTHENTICATION


class SignerUntrustedError(SecurityRefusedError):
    code = "HG-3111"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class SignerCertificateExpiredError(SecurityRefusedError):
    code = "HG-3112"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class SignerCertificateNotYetValidError(SecurityRefusedError):
    code = "HG-3113"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class AssertionInvalidError(SecurityRefusedError):
    code = "HG-3114"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class AssertionExpiredError(SecurityRefusedError):
    code = "HG-3115"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class AssertionNotYetValidError(SecurityRefusedError):
    code = "HG-3116"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class AudienceMismatchError(SecurityRefusedError):
    code = "HG-3117"
    fault_subcode = WsseFault.FAILED_AUTHENTICATION


class XuaAttributeMissingError(SecurityRefusedError):
    code = "HG-3118"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class XuaAttributeInvalidError(SecurityRefusedError):
    code = "HG-3119"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class TimestampExpiredError(SecurityRefusedError):
    code = "HG-3120"
    fault_subcode = WsseFault.MESSAGE_EXPIRED


class TimestampNotYetValidError(SecurityRefusedError):
    code = "HG-3121"


class TimestampInvalidError(SecurityRefusedError):
    code = "HG-3122"


class ReplayedMessageError(SecurityRefusedError):
    code = "HG-3123"


class TlsPeerMismatchError(SecurityRefusedError):
    code = "HG-3124"
    fault_subcode = WsseFault.FAILED_AUTHENTICATION


class UnsignedBodyError(SecurityRefusedError):
    code = "HG-3125"


# --- certificates and PKI (4xxx) ------------------------------------------------------------------------


class CertificateError(HieGatewayError):
    code = "HG-4000"


class CertificateLoadError(CertificateError, ValueError):
    code = "HG-4001"


class WrongPasswordError(CertificateError, ValueError):
    code = "HG-4002"


class KeyMismatchError(CertificateError, ValueError):
    code = "HG-4003"


class CertificateExpiredError(CertificateError):
    code = "HG-4004"


class CertificateNotYetValidError(CertificateError):
    code = "HG-4005"


class UntrustedCertificateError(CertificateError):
    code = "HG-4006"


class CaKeyMissingError(CertificateError):
    """A dev PKI directory holds certificates but not the CA key; completing it would need a second CA."""

    code = "HG-4007"


# --- storage (5xxx) -------------------------------------------------------------------------------------


class StorageError(HieGatewayError):
    code = "HG-5000"


class DatabaseUnavailableError(StorageError):
    code = "HG-5001"


class MigrationError(StorageError):
    code = "HG-5002"


class DocumentConflictError(StorageError):
    """A community sent a document under a unique id we already hold with different bytes."""

    code = "HG-5003"


# --- conversion (7xxx) ----------------------------------------------------------------------------------


class ConversionError(HieGatewayError):
    """C-CDA → FHIR conversion could not start or, in strict mode, produced invalid FHIR."""

    code = "HG-7000"


class NotClinicalDocumentError(ConversionError, ValueError):
    """Well-formed XML that is not a CDA ClinicalDocument (a fragment, another message).

    ``detail['root']`` names the root element found.
    """

    code = "HG-7001"


class ConversionValidationError(ConversionError):
    """Strict mode: the Bundle failed the FHIR R4B models (a converter bug); ``detail['errors']``."""

    code = "HG-7002"


class CcdaWriteError(HieGatewayError, ValueError):
    """FHIR input the C-CDA writer cannot use (no Patient, a resource missing what its section needs)."""

    code = "HG-7101"


# --- audit (8xxx) ---------------------------------------------------------------------------------------


class AuditError(HieGatewayError):
    code = "HG-8000"


class AuditEventError(AuditError, ValueError):
    """An audit event the log refuses to record (naive timestamp, value out of range); nothing was written."""

    code = "HG-8001"


class AuditQueryError(AuditError, ValueError):
    """A search filter, pagination cursor or export format the audit log cannot use."""

    code = "HG-8002"


class AuditChainError(AuditError):
    """The hash chain is broken; ``detail`` names the tenant, the first bad sequence number and the kind."""

    code = "HG-8003"


class AuditCheckpointError(AuditError):
    """A purge checkpoint cannot be signed (no key) or its signature does not verify."""

    code = "HG-8004"
