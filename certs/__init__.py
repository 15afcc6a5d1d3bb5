"""Development PKI and certificate handling: issue, load, validate, check.

``init_dev_pki`` backs ``hiegate certs init`` and ``check_dev_pki`` / ``check_certificates`` back
``hiegate certs check``; both return a printable result. ``create_ca`` and ``issue_identity`` issue further
gateway identities (the sandbox's simulated gateways). Errors are the ``CertificateError`` family of
:mod:`xca.errors`.
"""

from certs.check import CertificateCheck, CertificateFiles, PkiCheckReport, check_certificates, check_dev_pki
from certs.devpki import (
    CA_CERTIFICATE_FILE,
    CA_KEY_FILE,
    CLIENT_PKCS12_FILE,
    TRUST_BUNDLE_FILE,
    DevPkiLayout,
    FileStatus,
    PkiFile,
    PkiInitResult,
    init_dev_pki,
    write_identity,
)
from certs.issue import (
    CA_VALIDITY,
    DEFAULT_HOSTNAMES,
    LEAF_VALIDITY,
    CertificatePurpose,
    CertifiedKey,
    GatewayIdentity,
    create_ca,
    issue_certificate,
    issue_certified_key,
    issue_identity,
    new_rsa_key,
)
from certs.load import (
    LoadedIdentity,
    Pkcs12Bundle,
    ensure_key_matches,
    load_certificate,
    load_certificates,
    load_identity,
    load_pkcs12,
    load_private_key,
)
from certs.validate import (
    EXPIRY_WARNING_WINDOW,
    ExpiryWarning,
    ValidationResult,
    expiry_warnings,
    validate_certificate,
)
from certs.write import (
    certificates_pem,
    pkcs12_bytes,
    private_key_pem,
    write_certificates,
    write_pkcs12,
    write_private_key,
)

__all__ = [
    "CA_CERTIFICATE_FILE",
    "CA_KEY_FILE",
    "CA_VALIDITY",
    "CLIENT_PKCS12_FILE",
    "DEFAULT_HOSTNAMES",
    "EXPIRY_WARNING_WINDOW",
    "LEAF_VALIDITY",
    "TRUST_BUNDLE_FILE",
    "CertificateCheck",
    "CertificateFiles",
    "CertificatePurpose",
    "CertifiedKey",
    "DevPkiLayout",
    "ExpiryWarning",
    "FileStatus",
    "GatewayIdentity",
    "LoadedIdentity",
    "Pkcs12Bundle",
    "PkiCheckReport",
    "PkiFile",
    "PkiInitResult",
    "ValidationResult",
    "certificates_pem",
    "check_certificates",
    "check_dev_pki",
    "create_ca",
    "ensure_key_matches",
    "expiry_warnings",
    "init_dev_pki",
    "issue_certificate",
    "issue_certified_key",
    "issue_identity",
    "load_certificate",
    "load_certificates",
    "load_identity",
    "load_pkcs12",
    "load_private_key",
    "new_rsa_key",
    "pkcs12_bytes",
    "private_key_pem",
    "validate_certificate",
    "write_certificates",
    "write_identity",
    "write_pkcs12",
    "write_private_key",
]
