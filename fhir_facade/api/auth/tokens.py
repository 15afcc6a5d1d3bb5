"""The API's access tokens: short-lived JWTs signed ES256 by the server's own key.

Why JWTs and not opaque tokens: the API runs as several stateless uvicorn workers; a signed token is checked
without a database write per issue or a lookup per token, and the client row it names is re-read on every
request anyway (so disabling a client revokes its tokens at once). The key is an EC P-256 key of its own
(``api_token_key``, generated with mode 0600 on first start), not the dev PKI's signing key: that key signs
SAML assertions and WS-Security headers, and one key per purpose keeps a leak or a rotation contained.
Workers share it through the file; only public-key verification happens per request.

Claims: ``iss`` and ``aud`` the public base URL, ``sub`` the client id, ``tenant`` the tenant id,
``scope``, ``iat``, ``exp`` (``api_token_lifetime_seconds``, 300 by default as SMART recommends), ``jti``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fhir_facade.api.errors import AuthenticationError

__all__ = ["AccessClaims", "TokenIssuer", "load_or_create_key"]

_ALGORITHM = "ES256"


def load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The EC P-256 key in ``path``, created (mode 0600, exclusive create) when the file does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker created it first: use theirs
        else:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp256r1":
        raise ValueError(f"{path} is not an EC P-256 private key")
    return loaded


def _thumbprint(public: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 JWK thumbprint, used as ``kid``."""
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(public))
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class AccessClaims:
    client_id: str
    tenant_id: int
    scope: str
    expires_at: int


class TokenIssuer:
    """Issues and verifies the API's access tokens."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, *, issuer: str, lifetime: int) -> None:
        self._key = key
        self._public = key.public_key()
        self.kid = _thumbprint(self._public)
        self.issuer = issuer
        self.lifetime = lifetime

    def issue(self, *, client_id: str, tenant_id: int, scope: str) -> tuple[str, int]:
        """A signed token and its lifetime in seconds."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.issuer,
            "sub": client_id,
            "tenant": tenant_id,
            "scope": scope,
            "iat": now,
            "exp": now + self.lifetime,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(
            claims, self._key, algorithm=_ALGORITHM, headers={"kid": self.kid, "typ": "at+jwt"}
        )
        return token, self.lifetime

    def verify(self, token: str) -> AccessClaims:
        """The claims of a token this server issued and that is still valid; 401 otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") != self.kid or header.get("alg") != _ALGORITHM:
                raise AuthenticationError("the access token was not issued by this server")
            claims = jwt.decode(
                token,
                self._public,
                algorithms=[_ALGORITHM],
                audience=self.issuer,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "scope", "tenant", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the access token has expired") from None
        except jwt.PyJWTError:
            raise AuthenticationError("the access token is not valid") from None
        tenant, scope = claims["tenant"], claims["scope"]
        if not isinstance(tenant, int) or not isinstance(scope, str) or not isinstance(claims["sub"], str):
            raise AuthenticationError("the access token is not valid")
        return AccessClaims(claims["sub"], tenant, scope, int(claims["exp"]))
