"""Building a responding gateway from settings, and serving it over mutual TLS with uvicorn.

:func:`gateway_from_settings` wires one gateway from :class:`~gateway.config.Settings` (certificates from
``certs_dir``); :class:`ResponderServer` runs any responding app on a background thread with an
ephemeral port (tests, and the sandbox's N gateways in one process).
"""

from __future__ import annotations

import datetime as dt
import errno
import socket
import ssl
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from certs import CertificatePurpose, DevPkiLayout
from gateway.config import Settings
from gateway.directory import partners_of
from gateway.matching import MatchConfig
from gateway.responding.config import RespondingConfig
from gateway.responding.gateway import RespondingGateway
from gateway.security import (
    InMemoryReplayCache,
    MessageVerifier,
    TrustStore,
    VerificationPolicy,
    server_ssl_context,
    uvicorn_config,
)
from gateway.store import Database
from xca.errors import ConfigError, PortInUseError

__all__ = [
    "ResponderServer",
    "config_from_settings",
    "gateway_from_settings",
    "listen_sockets",
    "responder_ssl_context",
]


def config_from_settings(settings: Settings) -> RespondingConfig:
    hcid = settings.home_community_id
    threshold = settings.matching_threshold
    return RespondingConfig(
        home_community_id=hcid,
        tenant=settings.tenant,
        organization_name=settings.organization_name,
        assigning_authority=settings.assigning_authority or f"{hcid}.2",
        repository_unique_id=settings.repository_unique_id or f"{hcid}.3",
        public_base_url=settings.responding_public_url
        or f"https://{settings.responding_host}:{settings.responding_port}",
        max_request_bytes=settings.xml_max_bytes,
        matching=MatchConfig(match_threshold=threshold, review_threshold=min(60, threshold - 10)),
    )


def gateway_from_settings(settings: Settings, database: Database) -> RespondingGateway:
    """One gateway: trust from the certs folder's bundle, audiences from the public endpoint URLs."""
    config = config_from_settings(settings)
    trust = TrustStore.from_pem_file(DevPkiLayout(settings.certs_dir).trust_bundle)
    partners = partners_of(settings)
    policy = VerificationPolicy(
        audiences=config.audiences,
        clock_skew=dt.timedelta(seconds=settings.clock_skew_seconds),
        # SHA-1 from the partners the partners file allows it (allow_sha1), as this side sends it to them
        allow_sha1=partners.defaults.allow_sha1,
        sha1_partners=partners.sha1_partners(),
        require_signer_matches_tls_peer=settings.responding_require_tls_binding,
    )
    verifier = MessageVerifier(trust=trust, policy=policy, replay_cache=InMemoryReplayCache())
    return RespondingGateway(config=config, database=database, verifier=verifier)


def responder_ssl_context(settings: Settings) -> ssl.SSLContext:
    """The server side of mutual TLS from the TLS server certificate in ``certs_dir``."""
    layout = DevPkiLayout(settings.certs_dir)
    password = settings.key_password.get_secret_value() if settings.key_password else None
    return server_ssl_context(
        certificate=layout.certificate(CertificatePurpose.TLS_SERVER),
        private_key=layout.key(CertificatePurpose.TLS_SERVER),
        trust_bundle=layout.trust_bundle,
        key_password=password,
    )


def listen_sockets(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address of ``host`` on ``port`` (as uvicorn would bind them), for uvicorn's
    ``Server.run(sockets=...)``: a port already in use is one line before anything is printed, not a log
    line from uvicorn after the banner. A host that cannot be listened on is a bad setting (HG-1001)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        message = f"host {host}: cannot listen there ({exc.strerror})"
        raise ConfigError(message, detail={"setting": "host"}) from None
    bound: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(found):
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # as asyncio binds: IPv4 gets its own socket
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in bound:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(f"port {port} on {host} is already in use", detail={"port": port}) from None
        low = exc.errno == errno.EACCES and port < 1024
        reason = "ports below 1024 need administrator rights" if low else exc.strerror
        raise ConfigError(
            f"cannot listen on {host} port {port} ({reason})", detail={"setting": "port"}
        ) from None
    return bound


class ResponderServer:
    """A uvicorn server on its own thread. The socket is bound at construction, so :attr:`port` and
    :attr:`base_url` are known before the app (whose config needs its public URL) is built::

        server = ResponderServer(ssl_context=context)          # port=0: a free port
        app = create_responding_app(gateway_for(server.base_url))
        with server.start(app):
            ...
    """

    def __init__(self, *, ssl_context: ssl.SSLContext, host: str = "127.0.0.1", port: int = 0) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self._ssl_context = ssl_context
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self, app: Any, *, timeout: float = 10.0, **options: Any) -> ResponderServer:
        """Serve ``app`` (extra ``options`` go to uvicorn's Config) and wait until it accepts connections."""
        options.setdefault("log_level", "warning")
        options.setdefault("lifespan", "off")
        config = uvicorn_config(app, ssl_context=self._ssl_context, host=self.host, port=self.port, **options)
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, name=f"responder-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started and time.monotonic() < deadline and self._thread.is_alive():
            time.sleep(0.01)
        if not server.started:
            raise RuntimeError("the responding gateway did not start")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=timeout)
        self._socket.close()

    def __enter__(self) -> ResponderServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
