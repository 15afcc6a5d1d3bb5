"""The registry of API clients: registration, look-up, development API keys, and client-assertion replay.

A client is registered with a static JWKS of *public* keys (RSA of at least 2048 bits for RS384, EC P-384
for ES384; private members are refused), the scopes it may be granted, and its requesting-user defaults.
API keys are ``hgk_`` + 43 url-safe characters (256 random bits), shown once, stored as SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fhir_facade.api.auth.scopes import ScopeSet
from gateway.security import Role, is_valid_npi
from gateway.security.vocab import NhinPurpose, TefcaPurpose
from gateway.store.api import ApiAssertionUse, ApiClient, ApiKey
from gateway.store.api_jobs import ApiExport, ApiPull, ApiWebhookDelivery
from gateway.store.models import Tenant, utcnow
from xca.ids import is_oid

__all__ = [
    "API_KEY_PREFIX",
    "ClientRegistration",
    "add_api_key",
    "client_by_api_key",
    "client_by_id",
    "jwk_from_public_pem",
    "missing_user_fields",
    "register_client",
    "remember_assertion",
    "remove_client",
    "validate_jwks",
]

API_KEY_PREFIX = "hgk_"
_PURPOSES = {p.value for p in NhinPurpose} | {p.value for p in TefcaPurpose}


@dataclass(frozen=True, slots=True)
class ClientRegistration:
    """What ``hiegate clients add`` registers; validated by :func:`register_client`."""

    client_id: str
    name: str
    scopes: str
    jwks: Mapping[str, Any] | None = None
    user_id: str | None = None
    user_name: str | None = None
    user_npi: str | None = None
    user_role: str | None = None
    purpose_of_use: str = NhinPurpose.TREATMENT.value
    organization_oid: str | None = None
    allow_user_headers: bool = False


def jwk_from_public_pem(pem: bytes) -> dict[str, Any]:
    """A public key in PEM as a JWK with ``kid`` (RFC 7638 thumbprint) and ``alg``."""
    key = serialization.load_pem_public_key(pem)
    if isinstance(key, rsa.RSAPublicKey):
        jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
        members: tuple[str, ...] = ("e", "kty", "n")
        jwk["alg"] = "RS384"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))
        members = ("crv", "kty", "x", "y")
        jwk["alg"] = "ES384"
    else:
        raise ValueError("the public key must be RSA or EC P-384")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"))
    jwk["kid"] = jwt.utils.base64url_encode(hashlib.sha256(canonical.encode()).digest()).decode()
    return jwk


def validate_jwks(jwks: Mapping[str, Any]) -> dict[str, Any]:
    """The JWKS if every key is a usable public RS384/ES384 key; ``ValueError`` otherwise."""
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys:
        raise ValueError("a JWKS needs a non-empty 'keys' array")
    for jwk in keys:
        if not isinstance(jwk, dict):
            raise ValueError("each JWKS key must be an object")
        if any(member in jwk for member in ("d", "p", "q", "dp", "dq", "qi", "k")):
            raise ValueError("the JWKS holds private or symmetric key material; register public keys only")
        kty = jwk.get("kty")
        try:
            key = jwt.PyJWK(jwk, algorithm="RS384" if kty == "RSA" else "ES384").key
        except jwt.PyJWTError as exc:
            raise ValueError(f"a JWKS key cannot be used: {exc}") from None
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
            raise ValueError("RSA keys must have at least 2048 bits")
        if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name != "secp384r1":
            raise ValueError("EC keys must be on P-384 (ES384)")
    return dict(jwks)


def missing_user_fields(registration: ClientRegistration) -> tuple[str, ...]:
    """``user_name`` / ``user_role`` when the registration describes a requesting user without them.

    A user is described by any of its fields; every request would be refused without both a name and a
    role. An NPI or user id alone is allowed with ``allow_user_headers``: defaults for the headers' user.
    """
    missing = tuple(field for field in ("user_name", "user_role") if not getattr(registration, field))
    if len(missing) == 1:
        return missing
    if missing and (registration.user_npi or registration.user_id) and not registration.allow_user_headers:
        return missing
    return ()


def _check(registration: ClientRegistration) -> None:
    if (
        not registration.client_id
        or len(registration.client_id) > 128
        or not registration.client_id.isprintable()
    ):
        raise ValueError("client id must be 1-128 printable characters")
    ScopeSet.parse(registration.scopes)
    missing = missing_user_fields(registration)
    if missing:
        raise ValueError(f"the requesting user needs a name and a role: {' and '.join(missing)} missing")
    if registration.user_npi is not None and not is_valid_npi(registration.user_npi):
        raise ValueError("user NPI is not a valid NPI (ten digits, Luhn check)")
    if registration.user_role is not None:
        Role(registration.user_role)
    if registration.purpose_of_use not in _PURPOSES:
        raise ValueError("purpose of use must be an nhin-purpose or TEFCA code (e.g. TREATMENT)")
    if registration.organization_oid is not None and not is_oid(registration.organization_oid):
        raise ValueError("organization OID must be a bare dotted OID")


def register_client(session: Session, tenant: Tenant, registration: ClientRegistration) -> ApiClient:
    """Add a client of ``tenant``; ``ValueError`` for a bad value or a client id already taken."""
    _check(registration)
    client = ApiClient(
        client_id=registration.client_id,
        tenant_id=tenant.id,
        name=registration.name,
        jwks=validate_jwks(registration.jwks) if registration.jwks is not None else None,
        scopes=ScopeSet.parse(registration.scopes).text,
        user_id=registration.user_id,
        user_name=registration.user_name,
        user_npi=registration.user_npi,
        user_role=registration.user_role,
        purpose_of_use=registration.purpose_of_use,
        organization_oid=registration.organization_oid,
        allow_user_headers=registration.allow_user_headers,
        active=True,
    )
    try:
        with session.begin_nested():
            session.add(client)
    except IntegrityError:
        raise ValueError(f"client id {registration.client_id!r} is already registered") from None
    return client


def client_by_id(session: Session, client_id: str) -> ApiClient | None:
    return session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))


def remove_client(session: Session, client: ApiClient) -> None:
    """Delete ``client`` with its API keys and webhook, freeing its id; ``ValueError`` when pulls, exports or
    webhook deliveries are on record for it (they stay attributed: disable such a client instead)."""
    for model in (ApiPull, ApiExport, ApiWebhookDelivery):
        if session.scalar(select(model.client_pk).where(model.client_pk == client.id).limit(1)) is not None:
            raise ValueError(
                f"client {client.client_id!r} has pulls, exports or webhook deliveries on record"
            )
    session.delete(client)  # the keys, assertion uses and webhook go with it (ON DELETE CASCADE)
    session.flush()


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def add_api_key(session: Session, client: ApiClient, scopes: str | None = None) -> str:
    """A new API key of ``client`` (returned once) limited to ``scopes`` (default: the client's)."""
    allowed = ScopeSet.parse(client.scopes)
    wanted = ScopeSet.parse(scopes) if scopes else allowed
    if allowed.grant(wanted) != wanted:
        raise ValueError("an API key cannot have scopes its client is not registered for")
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(client_pk=client.id, key_sha256=_key_hash(key), prefix=key[:12], scopes=wanted.text))
    session.flush()
    return key


def client_by_api_key(session: Session, key: str) -> tuple[ApiClient, ApiKey] | None:
    """The active client and key row of an API key, if it is known and not revoked."""
    row = session.execute(
        select(ApiClient, ApiKey)
        .join(ApiKey, ApiKey.client_pk == ApiClient.id)
        .where(ApiKey.key_sha256 == _key_hash(key), ApiKey.revoked_at.is_(None), ApiClient.active.is_(True))
    ).first()
    return (row[0], row[1]) if row is not None else None


def remember_assertion(session: Session, client: ApiClient, jti: str, expires_at: dt.datetime) -> bool:
    """Record a client assertion's ``jti``; ``False`` when it was used before (a replay)."""
    # Keep used ids a while past exp: assertions are accepted with some clock leeway.
    stale = utcnow() - dt.timedelta(minutes=10)
    session.execute(delete(ApiAssertionUse).where(ApiAssertionUse.expires_at < stale))
    try:
        with session.begin_nested():
            session.add(ApiAssertionUse(client_pk=client.id, jti=jti, expires_at=expires_at))
    except IntegrityError:
        return False
    return True


def list_clients(session: Session) -> Sequence[tuple[ApiClient, str]]:
    """Every client with its tenant slug, by client id."""
    rows = session.execute(
        select(ApiClient, Tenant.slug)
        .join(Tenant, Tenant.id == ApiClient.tenant_id)
        .order_by(ApiClient.client_id)
    ).all()
    return [(row[0], row[1]) for row in rows]
