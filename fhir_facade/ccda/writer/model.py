"""Values the writer takes and returns: the document's organizations and device, warnings, the result."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from xca.errors import CcdaWriteError

__all__ = [
    "Address",
    "AuthoringDevice",
    "CcdResult",
    "Organization",
    "WriteWarning",
]

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


@dataclass(frozen=True)
class Address:
    """A US Realm postal address (``streetAddressLine``, ``city``, ``state``, ``postalCode``, ``country``)."""

    lines: tuple[str, ...]
    city: str
    state: str
    postal_code: str
    country: str = "US"


@dataclass(frozen=True)
class Organization:
    """The author's or custodian's organization; ``oid`` is its id root (and the root of entry ids)."""

    oid: str
    name: str
    telecom: str
    address: Address
    id_extension: str | None = None

    def __post_init__(self) -> None:
        if not _OID.match(self.oid):
            raise CcdaWriteError("organization id root is not an OID", detail={"oid": self.oid})
        if not self.telecom.startswith(("tel:", "mailto:", "http:", "https:", "fax:")):
            raise CcdaWriteError("organization telecom must be a URL (tel:, mailto:, ...)")
        if not self.name.strip():
            raise CcdaWriteError("organization name is empty")


@dataclass(frozen=True)
class AuthoringDevice:
    """The software that authored the document (``assignedAuthoringDevice``)."""

    software_name: str
    manufacturer_model_name: str


@dataclass(frozen=True)
class WriteWarning:
    """Data kept in the narrative only: ``resource`` is ``Type/id``, ``section`` the section key."""

    resource: str
    section: str
    message: str


@dataclass(frozen=True)
class CcdResult:
    """The serialized CCD (UTF-8 XML with declaration) and what could not be expressed as entries."""

    document: bytes
    warnings: tuple[WriteWarning, ...] = field(default_factory=tuple)
