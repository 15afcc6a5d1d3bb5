"""What one responding gateway is: its community, ids, endpoints and limits (frozen, one per instance).

Several gateways in one process (the sandbox) each get their own :class:`RespondingConfig`; they may share
a database, separated by ``tenant``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from gateway.audit import Transaction
from gateway.matching import MatchConfig
from xca.errors import ConfigError
from xca.ids import is_oid
from xca.safexml import DEFAULT_MAX_BYTES
from xca.soap import Action

__all__ = ["REQUEST_ACTIONS", "RESPONSE_ACTIONS", "EndpointPaths", "RespondingConfig"]

REQUEST_ACTIONS: Final = {
    Transaction.ITI_55: Action.ITI55_REQUEST,
    Transaction.ITI_38: Action.ITI38_REQUEST,
    Transaction.ITI_39: Action.ITI39_REQUEST,
}
RESPONSE_ACTIONS: Final = {
    Transaction.ITI_55: Action.ITI55_RESPONSE,
    Transaction.ITI_38: Action.ITI38_RESPONSE,
    Transaction.ITI_39: Action.ITI39_RESPONSE,
}


@dataclass(frozen=True)
class EndpointPaths:
    """URL paths of the three SOAP endpoints."""

    iti55: str = "/xcpd"
    iti38: str = "/xca/query"
    iti39: str = "/xca/retrieve"

    def for_transaction(self, transaction: Transaction) -> str:
        return {
            Transaction.ITI_55: self.iti55,
            Transaction.ITI_38: self.iti38,
            Transaction.ITI_39: self.iti39,
        }[transaction]


@dataclass(frozen=True)
class RespondingConfig:
    """One responding gateway.

    ``assigning_authority`` is the OID of the patient ids it answers with; ``repository_unique_id`` the OID
    of its document repository; ``public_base_url`` the scheme, host and port peers call, which with the
    paths gives the endpoint URLs (and the audiences peers' assertions must name, beside
    ``urn:oid:<home_community_id>``).

    Two switches for simulated communities (the sandbox's fault modes): ``patient_discovery=False`` answers
    every ITI-55 query NF without matching; ``unavailable_documents`` (document unique ids) stay listed by
    ITI-38 while ITI-39 reports their content missing (``XDSMissingDocument``).
    """

    home_community_id: str
    tenant: str
    organization_name: str
    assigning_authority: str
    repository_unique_id: str
    public_base_url: str
    paths: EndpointPaths = field(default_factory=EndpointPaths)
    max_request_bytes: int = DEFAULT_MAX_BYTES
    max_documents_per_retrieve: int = 100
    matching: MatchConfig = field(default_factory=MatchConfig)
    patient_discovery: bool = True
    unavailable_documents: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in ("home_community_id", "assigning_authority", "repository_unique_id"):
            if not is_oid(getattr(self, name)):
                raise ConfigError(f"{name} must be a bare dotted OID", detail={"setting": name})
        if not self.public_base_url.startswith(("https://", "http://")):
            raise ConfigError("public_base_url must be an http(s) URL", detail={"setting": "public_base_url"})

    @property
    def device_id(self) -> str:
        """The ITI-55 sender device id of this gateway's answers."""
        return f"{self.home_community_id}.1"

    def endpoint_url(self, transaction: Transaction) -> str:
        return self.public_base_url.rstrip("/") + self.paths.for_transaction(transaction)

    @property
    def audiences(self) -> frozenset[str]:
        """What an inbound assertion's AudienceRestriction may name to be accepted here."""
        urls = {self.endpoint_url(t) for t in Transaction}
        return frozenset({*urls, self.public_base_url.rstrip("/"), f"urn:oid:{self.home_community_id}"})
