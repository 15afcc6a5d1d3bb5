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
    ├── CertificateError                    HG-4xxx  PKI: loading, matching and validating certificates
    │   ├── CertificateLoadError(ValueError) HG-4001 unreadable PEM/PKCS#12 or missing file
    │   ├── WrongPasswordError(ValueError)  HG-4002  the password does not open the key/PKCS#12
    │   ├── KeyMismatchError(ValueError)    HG-4003  the private key does not belong to the certificate
    │   ├── CertificateExpiredError         HG-4004  a certificate in the chain is past notAfter
    │   ├── CertificateNotYetValidError     HG-4005  a certificate in the chain is before notBefore
    │   ├── UntrustedCertificateError       HG-4006  the chain does not lead to the trust bundle
    │   └── CaKeyMissingError               HG-4007  ``certs init`` found certificates but not the CA key
    └── StorageError                        HG-5xxx  database and migrations
        ├── DatabaseUnavailableError        HG-5001  cannot connect / bad URL
        ├── MigrationError                  HG-5002  Alembic could not bring the schema to head
        └── DocumentConflictError           HG-5003  same document unique id, different content

Later layers (security 3xxx, transport 6xxx, conversion 7xxx, audit 8xxx, API 9xxx) add their subclasses
here. Boundaries render ``code`` and ``message`` as a SOAP Fault, an XDS RegistryError, an XCPD
acknowledgementDetail or a FHIR OperationOutcome. Messages never carry PHI.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CaKeyMissingError",
    "CertificateError",
    "CertificateExpiredError",
    "CertificateLoadError",
    "CertificateNotYetValidError",
    "ConfigError",
    "DatabaseUnavailableError",
    "DocumentConflictError",
    "HieGatewayError",
    "InvalidValueError",
    "KeyMismatchError",
    "MigrationError",
    "MissingElementError",
    "MtomFormatError",
    "SchemaValidationError",
    "StorageError",
    "UnexpectedMessageError",
    "UntrustedCertificateError",
    "WireFormatError",
    "WrongPasswordError",
    "XmlDtdForbiddenError",
    "XmlEntityDeclarationError",
    "XmlExternalDtdError",
    "XmlExternalEntityError",
    "XmlRefusedError",
    "XmlSyntaxError",
    "XmlTooDeepError",
    "XmlTooLargeError",
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
