"""SMART Backend Services client authentication: the signed JWT client assertion (RFC 7523, SMART App Launch
"Backend Services").

The assertion must be signed RS384 or ES384 by a key in the client's registered JWKS (``kid`` chooses
the key when present), with ``iss`` = ``sub`` = the client id, ``aud`` = this server's token URL, ``exp``
at most five minutes ahead, and a ``jti`` not seen before (kept until ``exp``). A ``jku`` header is refused:
keys are registered, never fetched. Every failure is ``invalid_client`` (401), with a message that says
which check failed but nothing about the keys.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy.orm import Session

from fhir_facade.api.auth.clients import client_by_id, remember_assertion
from fhir_facade.api.errors import AuthenticationError
from gateway.store.api import ApiClient

__all__ = ["ALGORITHMS", "ASSERTION_TYPE", "MAX_ASSERTION_LIFETIME", "verify_client_assertion"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
MAX_ASSERTION_LIFETIME = 300
_LEEWAY = 30
_KTY = {"RS384": "RSA", "ES384": "EC"}


def _refuse(message: str) -> AuthenticationError:
    return AuthenticationError(message, oauth_error="invalid_client")


def _candidate_keys(client: ApiClient, header: dict[str, Any]) -> list[Any]:
    jwks = client.jwks or {}
    keys = jwks.get("keys")
    algorithm = header["alg"]
    found = []
    for jwk in keys if isinstance(keys, list) else []:
        if not isinstance(jwk, dict) or jwk.get("kty") != _KTY[algorithm]:
            continue
        if header.get("kid") is not None and jwk.get("kid") != header["kid"]:
            continue
        if jwk.get("alg") not in (None, algorithm):
            continue
        try:
            found.append(jwt.PyJWK(jwk, algorithm=algorithm).key)
        except jwt.PyJWTError:
            continue
    return found


@dataclass(frozen=True, slots=True)
class VerifiedClient:
    client: ApiClient
    jti: str


def verify_client_assertion(session: Session, assertion: str, *, token_url: str) -> VerifiedClient:
    """The registered, active client that signed ``assertion``; records its ``jti``; 401 otherwise."""
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _refuse("the client assertion is not a JWT") from None
    if header.get("alg") not in ALGORITHMS:
        raise _refuse("the client assertion must be signed with RS384 or ES384")
    if "jku" in header or "x5u" in header:
        raise _refuse("key URLs in the client assertion header are not accepted; keys are registered")
    client_id = unverified.get("iss")
    client = client_by_id(session, client_id) if isinstance(client_id, str) else None
    if client is None or not client.active:
        raise _refuse("the client assertion's issuer is not a registered client")
    keys = _candidate_keys(client, header)
    if not keys:
        raise _refuse("no registered key of this client matches the assertion's alg and kid")
    claims: dict[str, Any] | None = None
    for key in keys:
        try:
            claims = jwt.decode(
                assertion,
                key,
                algorithms=[header["alg"]],
                audience=token_url,
                issuer=client.client_id,
                leeway=_LEEWAY,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError:
            raise _refuse("the client assertion has expired") from None
        except jwt.InvalidAudienceError:
            raise _refuse("the client assertion's aud must be this server's token URL") from None
        except jwt.PyJWTError as exc:
            raise _refuse(f"the client assertion is not valid: {type(exc).__name__}") from None
    if claims is None:
        raise _refuse("the client assertion's signature does not verify with the registered keys")
    if claims["sub"] != client.client_id:
        raise _refuse("the client assertion's sub must equal its iss (the client id)")
    expires = int(claims["exp"])
    if expires > time.time() + MAX_ASSERTION_LIFETIME + _LEEWAY:
        raise _refuse("the client assertion's exp is more than five minutes in the future")
    jti = claims["jti"]
    if not isinstance(jti, str) or not 0 < len(jti) <= 255:
        raise _refuse("the client assertion's jti must be a string of at most 255 characters")
    if not remember_assertion(session, client, jti, dt.datetime.fromtimestamp(expires, dt.UTC)):
        raise _refuse("the client assertion's jti was used before (replay)")
    return VerifiedClient(client, jti)
