"""The one exception hierarchy of hie-gateway, with stable error codes.

It lives in ``xca`` because ``xca`` is the innermost layer (stdlib and lxml only): every other package may
import it without pulling in I/O. One module per layer (:mod:`~xca.errors.config` 1xxx,
:mod:`~xca.errors.xml` 20xx-22xx, :mod:`~xca.errors.security` 3xxx, :mod:`~xca.errors.certs` 4xxx,
:mod:`~xca.errors.storage` 5xxx, :mod:`~xca.errors.transport` 6xxx, :mod:`~xca.errors.conversion` 7xxx,
:mod:`~xca.errors.audit` 8xxx, :mod:`~xca.errors.api` 9xxx); import the classes from here. Codes are grouped
by layer and never reused once published; ``(ValueError)`` / ``(LookupError)`` mark classes that are also
that built-in (bad input, an unknown key)::

    HieGatewayError                         HG-0000  root; ``code``, ``message``, ``detail``
    ├── ConfigError(ValueError)             HG-1001  a setting has a bad value
    │   └── PathAccessError                 HG-1002  a given file or folder cannot be read or written
    ├── PortInUseError                      HG-1003  a server's address is taken by another process
    ├── XmlRefusedError(ValueError)         HG-2000  20xx: the hardened parser refused inbound bytes
    │   ├── XmlTooLargeError                HG-2001  input over the size limit
    │   ├── XmlSyntaxError                  HG-2002  not well-formed XML (or empty)
    │   ├── XmlDtdForbiddenError            HG-2003  a DOCTYPE declaration (DTDs are never accepted)
    │   │   ├── XmlExternalDtdError         HG-2004  a DOCTYPE that points at an external DTD
    │   │   └── XmlEntityDeclarationError   HG-2005  internal entity declarations (expansion attacks)
    │   │       └── XmlExternalEntityError  HG-2006  external entity declarations (XXE: file or URL)
    │   └── XmlTooDeepError                 HG-2007  element nesting over the depth limit
    ├── WireFormatError(ValueError)         HG-2100  21xx: well-formed XML that is not the expected message
    │   ├── UnexpectedMessageError          HG-2101  wrong root element / SOAP action for this transaction
    │   │   └── ActionNotSupportedError     HG-2101  keeps its parent's code: wsa:Action not this endpoint's
    │   ├── MissingElementError             HG-2102  a required element or attribute is absent
    │   ├── InvalidValueError               HG-2103  a value that cannot be interpreted (e.g. bad OID)
    │   └── MtomFormatError                 HG-2104  a multipart/related (MTOM/XOP) body that cannot be read
    ├── SchemaValidationError               HG-2201  an outgoing message failed the official schema
    ├── SecurityError                       HG-3000  message security; each names its wsse ``fault_subcode``
    │   ├── XuaValueError(ValueError)       HG-3001  outbound: a requesting-user / assertion value refused
    │   ├── SigningError                    HG-3002  outbound: the message could not be signed
    │   └── SecurityRefusedError            HG-3100  inbound: the message fails verification; nothing is used
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
    ├── CertificateError                    HG-4000  4xxx: PKI: loading, matching and validating certificates
    │   ├── CertificateLoadError(ValueError) HG-4001 unreadable PEM/PKCS#12 or missing file
    │   ├── WrongPasswordError(ValueError)  HG-4002  the password does not open the key/PKCS#12
    │   ├── KeyMismatchError(ValueError)    HG-4003  the private key does not belong to the certificate
    │   ├── CertificateExpiredError         HG-4004  a certificate in the chain is past notAfter
    │   ├── CertificateNotYetValidError     HG-4005  a certificate in the chain is before notBefore
    │   ├── UntrustedCertificateError       HG-4006  the chain does not lead to the trust bundle
    │   └── CaKeyMissingError               HG-4007  ``certs init`` found certificates but not the CA key
    ├── StorageError                        HG-5000  5xxx: database and migrations
    │   ├── DatabaseUnavailableError        HG-5001  cannot connect / bad URL
    │   ├── MigrationError                  HG-5002  Alembic could not bring the schema to head
    │   ├── DocumentConflictError           HG-5003  same document unique id, different content
    │   └── DocumentPatientMismatchError    HG-5004  a unique id already held for another local patient
    ├── PullError                           HG-6000  6xxx: the initiating side (exchanges, pull jobs)
    │   ├── ExchangeError                   HG-6010  one exchange with a remote gateway failed; ``detail``
    │   │   │                                        names the community and the transaction, never PHI
    │   │   ├── GatewayConnectError         HG-6011  no connection (refused, reset, TLS handshake failed)
    │   │   │   └── GatewayTlsError         HG-6017  TLS refused: their certificate failed verification,
    │   │   │                                        or they refused ours (an alert); never retried
    │   │   ├── GatewayTimeoutError         HG-6012  no answer within the partner's timeout
    │   │   ├── GatewayHttpError            HG-6013  an HTTP error status without a usable SOAP answer
    │   │   ├── CircuitOpenError            HG-6014  skipped: the gateway failed repeatedly (circuit open)
    │   │   ├── GatewayFaultError           HG-6015  a SOAP Fault, not an answer (``detail['subcodes']``)
    │   │   └── GatewayResponseError        HG-6016  an unusable answer (unreadable, wrong RelatesTo)
    │   └── JobError                        HG-6200  62xx: pull jobs
    │       ├── UnknownJobError(LookupError) HG-6201 no such job for this tenant
    │       ├── JobBusyError                HG-6202  another live worker holds the job
    │       ├── UnknownPatientError(LookupError) HG-6203 the pull names a patient the tenant lacks
    │       ├── JobCancelledError           HG-6204  the job was cancelled: never run or resumed again
    │       └── JobFinishedError            HG-6205  cancel refused: the job already ended (done or failed)
    ├── DirectoryError                      HG-6100  61xx: the directory of remote communities
    │   ├── DirectoryFormatError(ValueError) HG-6101 not a FHIR Bundle of Organizations (JSON or XML)
    │   ├── UnknownCommunityError(LookupError) HG-6102 a homeCommunityId the directory does not list
    │   └── DirectoryFetchError             HG-6103  a directory FHIR server's pages could not be fetched
    ├── ConversionError                     HG-7000  70xx: C-CDA → FHIR conversion
    │   ├── NotClinicalDocumentError(ValueError) HG-7001 well-formed XML that is not a CDA ClinicalDocument
    │   └── ConversionValidationError       HG-7002  strict mode: the Bundle fails the FHIR R4B models
    ├── CcdaWriteError(ValueError)          HG-7101  FHIR input the C-CDA writer cannot turn into a CCD
    ├── AuditError                          HG-8000  8xxx: the compliance audit log
    │   ├── AuditEventError(ValueError)     HG-8001  an event the audit log refuses (naive time, bad value)
    │   ├── AuditQueryError(ValueError)     HG-8002  a bad search filter, cursor or export format
    │   ├── AuditChainError                 HG-8003  verification found a changed, deleted or inserted record
    │   ├── AuditCheckpointError            HG-8004  a purge checkpoint cannot be signed or fails to verify
    │   ├── AuditRetentionError             HG-8005  purge refused: cut-off in the future or within retention
    │   └── AuditAnchorError                HG-8006  an anchor cannot be made or an anchor file read
    └── ApiError                            HG-9000  9xxx: the FHIR API; 500 ``exception``
        ├── InvalidRequestError(ValueError) HG-9001  400 ``invalid`` / ``value`` (``expression`` names where)
        │   └── UnsupportedSearchError      HG-9004  400 ``not-supported`` (handling=strict)
        ├── NotAcceptableError              HG-9002  406 ``not-supported``
        ├── UnsupportedMediaTypeError       HG-9003  415 ``not-supported``
        ├── PayloadTooLargeError            HG-9005  413 ``too-long`` (Content-Length or the bytes read)
        ├── AuthenticationError             HG-9101  401 ``login`` + ``WWW-Authenticate`` / OAuth2 error
        ├── InsufficientScopeError          HG-9102  403 ``forbidden``
        ├── ResourceNotFoundError           HG-9201  404 ``not-found`` (also another tenant's resource)
        ├── MethodNotAllowedError           HG-9202  405 ``not-supported``
        ├── ResourceConflictError           HG-9203  409 ``duplicate``
        ├── MultipleMatchesError            HG-9204  412 ``multiple-matches`` (conditional create)
        ├── BusinessRuleError               HG-9205  422 ``business-rule``
        └── InternalApiError                HG-9500  500 ``exception`` (``detail['incident']``)

Security errors name a :class:`WsseFault` subcode; API errors carry a plain :class:`Issue`. Boundaries
render ``code`` and ``message`` as a SOAP Fault, an XDS RegistryError, an XCPD acknowledgementDetail or a FHIR
OperationOutcome (:mod:`fhir_facade.api.errors`). Messages never carry PHI.
"""

from __future__ import annotations

from xca.errors._base import (
    HieGatewayError,
)
from xca.errors.api import (
    ApiError,
    AuthenticationError,
    BusinessRuleError,
    InsufficientScopeError,
    InternalApiError,
    InvalidRequestError,
    Issue,
    MethodNotAllowedError,
    MultipleMatchesError,
    NotAcceptableError,
    PayloadTooLargeError,
    ResourceConflictError,
    ResourceNotFoundError,
    UnsupportedMediaTypeError,
    UnsupportedSearchError,
)
from xca.errors.audit import (
    AuditAnchorError,
    AuditChainError,
    AuditCheckpointError,
    AuditError,
    AuditEventError,
    AuditQueryError,
    AuditRetentionError,
)
from xca.errors.certs import (
    CaKeyMissingError,
    CertificateError,
    CertificateExpiredError,
    CertificateLoadError,
    CertificateNotYetValidError,
    KeyMismatchError,
    UntrustedCertificateError,
    WrongPasswordError,
)
from xca.errors.config import (
    ConfigError,
    PathAccessError,
    PortInUseError,
    path_problem,
)
from xca.errors.conversion import (
    CcdaWriteError,
    ConversionError,
    ConversionValidationError,
    NotClinicalDocumentError,
)
from xca.errors.security import (
    AssertionExpiredError,
    AssertionInvalidError,
    AssertionNotYetValidError,
    AudienceMismatchError,
    CommentInjectionError,
    DigestMismatchError,
    DuplicateIdError,
    HolderOfKeyError,
    ReplayedMessageError,
    SecurityError,
    SecurityHeaderError,
    SecurityRefusedError,
    SignatureInvalidError,
    SignatureWrappingError,
    SignerCertificateExpiredError,
    SignerCertificateNotYetValidError,
    SignerUntrustedError,
    SigningError,
    TimestampExpiredError,
    TimestampInvalidError,
    TimestampNotYetValidError,
    TlsPeerMismatchError,
    UnsignedAssertionError,
    UnsignedBodyError,
    UnsupportedAlgorithmError,
    UnsupportedKeyInfoError,
    WsseFault,
    XuaAttributeInvalidError,
    XuaAttributeMissingError,
    XuaValueError,
)
from xca.errors.storage import (
    DatabaseUnavailableError,
    DocumentConflictError,
    DocumentPatientMismatchError,
    MigrationError,
    StorageError,
)
from xca.errors.transport import (
    CircuitOpenError,
    DirectoryError,
    DirectoryFetchError,
    DirectoryFormatError,
    ExchangeError,
    GatewayConnectError,
    GatewayFaultError,
    GatewayHttpError,
    GatewayResponseError,
    GatewayTimeoutError,
    GatewayTlsError,
    JobBusyError,
    JobCancelledError,
    JobError,
    JobFinishedError,
    PullError,
    UnknownCommunityError,
    UnknownJobError,
    UnknownPatientError,
)
from xca.errors.xml import (
    ActionNotSupportedError,
    InvalidValueError,
    MissingElementError,
    MtomFormatError,
    SchemaValidationError,
    UnexpectedMessageError,
    WireFormatError,
    XmlDtdForbiddenError,
    XmlEntityDeclarationError,
    XmlExternalDtdError,
    XmlExternalEntityError,
    XmlRefusedError,
    XmlSyntaxError,
    XmlTooDeepError,
    XmlTooLargeError,
)

__all__ = [
    "ActionNotSupportedError",
    "ApiError",
    "AssertionExpiredError",
    "AssertionInvalidError",
    "AssertionNotYetValidError",
    "AudienceMismatchError",
    "AuditAnchorError",
    "AuditChainError",
    "AuditCheckpointError",
    "AuditError",
    "AuditEventError",
    "AuditQueryError",
    "AuditRetentionError",
    "AuthenticationError",
    "BusinessRuleError",
    "CaKeyMissingError",
    "CcdaWriteError",
    "CertificateError",
    "CertificateExpiredError",
    "CertificateLoadError",
    "CertificateNotYetValidError",
    "CircuitOpenError",
    "CommentInjectionError",
    "ConfigError",
    "ConversionError",
    "ConversionValidationError",
    "DatabaseUnavailableError",
    "DigestMismatchError",
    "DirectoryError",
    "DirectoryFetchError",
    "DirectoryFormatError",
    "DocumentConflictError",
    "DocumentPatientMismatchError",
    "DuplicateIdError",
    "ExchangeError",
    "GatewayConnectError",
    "GatewayFaultError",
    "GatewayHttpError",
    "GatewayResponseError",
    "GatewayTimeoutError",
    "GatewayTlsError",
    "HieGatewayError",
    "HolderOfKeyError",
    "InsufficientScopeError",
    "InternalApiError",
    "InvalidRequestError",
    "InvalidValueError",
    "Issue",
    "JobBusyError",
    "JobCancelledError",
    "JobError",
    "JobFinishedError",
    "KeyMismatchError",
    "MethodNotAllowedError",
    "MigrationError",
    "MissingElementError",
    "MtomFormatError",
    "MultipleMatchesError",
    "NotAcceptableError",
    "NotClinicalDocumentError",
    "PathAccessError",
    "PayloadTooLargeError",
    "PortInUseError",
    "PullError",
    "ReplayedMessageError",
    "ResourceConflictError",
    "ResourceNotFoundError",
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
    "UnknownCommunityError",
    "UnknownJobError",
    "UnknownPatientError",
    "UnsignedAssertionError",
    "UnsignedBodyError",
    "UnsupportedAlgorithmError",
    "UnsupportedKeyInfoError",
    "UnsupportedMediaTypeError",
    "UnsupportedSearchError",
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
    "path_problem",
]
