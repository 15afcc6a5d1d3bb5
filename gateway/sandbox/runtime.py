"""Running a sandbox: N responding gateways in one process, one event loop, one uvicorn server each.

:func:`start_sandbox` (or the context manager :func:`run_sandbox`) does, in order and timed
(:attr:`Sandbox.timings`):

1. ``pki`` — the dev CA in ``certs_dir`` (``init_dev_pki`` when missing), then one ECDSA server certificate
   per gateway (:mod:`gateway.sandbox.pki`);
2. ``population`` — persons, decoys and background patients, checked with the matcher
   (:mod:`gateway.sandbox.population`);
3. ``documents`` — the C-CDA documents (:mod:`gateway.sandbox.documents`), the dominant cost (about 20–40 ms
   each, a few per registration of a person);
4. ``database`` — ``<folder>/sandbox.db`` deleted, migrated, and every gateway's tenant, patients and
   documents inserted in one transaction;
5. ``servers`` — sockets bound (``base_port + i`` or free ports), one :class:`RespondingGateway` + app +
   :class:`~gateway.sandbox.behaviour.GatewayBehaviour` + ``uvicorn.Server`` per gateway, all started on
   one background thread's event loop;
6. ``files`` — ``directory.json``, ``patients.json``, ``decoys.json``.

Threads: the gateways' handlers are synchronous and run in anyio's worker threads. The limiter is per event
loop, so all gateways share it; the sandbox sets it to ``SandboxConfig.threads``, default 4 instead of
anyio's 40. The handlers share one GIL and one SQLite file whose writers take turns (``BEGIN IMMEDIATE``),
so more threads only stretch each writer's turn: 200 concurrent ITI-55 (bench/bench_sandbox.py, 2 cores)
took 6.5 s with 4 threads, 10.9 s with 8, and with 16 one request failed on SQLite's 5 s busy timeout.
:meth:`Sandbox.stop` releases hung requests, stops every server, waits for the loop thread
and closes the database: no threads, sockets or ports remain.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from certs import DevPkiLayout, init_dev_pki
from gateway.audit import Transaction
from gateway.matching import MatchConfig
from gateway.responding import (
    RespondingConfig,
    RespondingGateway,
    add_document,
    create_responding_app,
    register_patient,
)
from gateway.sandbox.behaviour import GatewayBehaviour, SandboxControl, SandboxH11Protocol
from gateway.sandbox.directory import directory_bundle, expected_json, write_json
from gateway.sandbox.documents import SandboxDocument, documents_for
from gateway.sandbox.geo import Place
from gateway.sandbox.pki import SandboxPki, ServerCertificate, load_dev_ca
from gateway.sandbox.plan import GatewayPlan, SandboxConfig, plan_gateways
from gateway.sandbox.population import Population, Registration, plan_population
from gateway.sandbox.specs import FaultMode, LatencySpec
from gateway.security import (
    InMemoryReplayCache,
    MessageVerifier,
    TrustStore,
    VerificationPolicy,
    server_ssl_context,
)
from gateway.store import Database, Tenant
from gateway.store.documents import ensure_tenant
from xca.errors import PortInUseError

__all__ = ["Sandbox", "SandboxGateway", "run_sandbox", "start_sandbox"]

log = logging.getLogger("gateway.sandbox")
_GRACE_SECONDS = 1.0


@dataclass(frozen=True)
class SandboxGateway:
    """One running gateway as callers see it."""

    index: int
    label: str
    home_community_id: str
    organization_name: str
    base_url: str
    port: int
    endpoints: dict[Transaction, str]
    fault: FaultMode | None
    latency: LatencySpec | None
    place: Place
    patients: int
    documents: int
    config: RespondingConfig = field(repr=False)
    certificate: Path = field(repr=False)

    @property
    def healthy(self) -> bool:
        return self.fault is None

    @property
    def iti55_url(self) -> str:
        return self.endpoints[Transaction.ITI_55]

    @property
    def iti38_url(self) -> str:
        return self.endpoints[Transaction.ITI_38]

    @property
    def iti39_url(self) -> str:
        return self.endpoints[Transaction.ITI_39]


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(f"port {port} on {host} is already in use", detail={"port": port}) from None
        raise
    return sock


def _certificate(pki: SandboxPki, plan: GatewayPlan) -> ServerCertificate:
    name = f"{plan.organization_name} ({plan.label})"
    if plan.fault is FaultMode.TLS_WRONG_CERT:
        return pki.wrong_ca(plan.label, name)
    if plan.fault is FaultMode.TLS_EXPIRED_CERT:
        return pki.expired(plan.label, name)
    return pki.server(plan.label, name)


def _uvicorn_config(app: Any, context: ssl.SSLContext, host: str, port: int) -> uvicorn.Config:
    if context.verify_mode != ssl.CERT_REQUIRED:
        raise ValueError("the server SSL context must require client certificates")
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=SandboxH11Protocol,
        ssl_context_factory=lambda _config, _default: context,
        lifespan="off",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=3,
        # Keep idle connections (as nginx does) rather than uvicorn's 5 s: a server-side close of an idle TLS
        # connection waits for a close_notify that a pooled client never sends.
        timeout_keep_alive=75,
    )


class Sandbox:
    """A running sandbox (see the module docstring). Use :func:`run_sandbox` or call :meth:`stop`."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.folder = config.folder
        self.directory_path = config.folder / "directory.json"
        self.patients_path = config.folder / "patients.json"
        self.decoys_path = config.folder / "decoys.json"
        self.database_path = config.folder / "sandbox.db"
        self.database_url = f"sqlite:///{self.database_path}"
        self.timings: dict[str, float] = {}
        self.gateways: tuple[SandboxGateway, ...] = ()
        self.patients: list[dict[str, Any]] = []
        self.decoys: list[dict[str, Any]] = []
        self.population: Population | None = None
        self.database: Database | None = None
        self._servers: list[tuple[uvicorn.Server, socket.socket]] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped = False

    # -- start ---------------------------------------------------------------------------------------------

    def _timed(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.timings[name] = now - started
        return now

    def start(self) -> Sandbox:
        config = self.config
        began = mark = time.perf_counter()
        config.folder.mkdir(parents=True, exist_ok=True)
        if not DevPkiLayout(config.certs_dir).ca_key.exists():
            init_dev_pki(config.certs_dir, key_password=config.key_password)
        plans = plan_gateways(config)
        pki = SandboxPki(config.folder / "pki", load_dev_ca(config.certs_dir, config.key_password))
        certificates = [_certificate(pki, plan) for plan in plans]
        mark = self._timed("pki", mark)

        population = plan_population(
            persons=config.patients,
            gateway_metros=[p.place.metro for p in plans],
            seed=config.seed,
            documents=config.documents,
            background=config.background,
        )
        self.population = population
        mark = self._timed("population", mark)

        documents: dict[Registration, list[SandboxDocument]] = {}
        next_id = [1] * len(plans)
        for registration in population.registrations:
            if registration.documents:
                plan = plans[registration.gateway]
                found = documents_for(
                    registration, plan, pdf=config.pdf, next_id=next_id[registration.gateway]
                )
                next_id[registration.gateway] += len(found)
                documents[registration] = found
        mark = self._timed("documents", mark)

        sockets: list[socket.socket] = []
        try:
            for plan in plans:
                sockets.append(_bind(config.host, config.base_port + plan.index if config.base_port else 0))
            configs = [
                self._responding_config(plan, sock, documents)
                for plan, sock in zip(plans, sockets, strict=True)
            ]
            tenants = self._seed(plans, configs, population, documents)
            mark = self._timed("database", mark)
            self._serve(plans, configs, tenants, certificates, sockets, population, documents)
        except BaseException:
            for sock in sockets:
                sock.close()
            self._dispose()
            raise
        mark = self._timed("servers", mark)

        self._write_files(plans, configs, population, documents)
        self._timed("files", mark)
        self.timings["total"] = time.perf_counter() - began
        return self

    def _responding_config(
        self, plan: GatewayPlan, sock: socket.socket, documents: dict[Registration, list[SandboxDocument]]
    ) -> RespondingConfig:
        unavailable: frozenset[str] = frozenset()
        if plan.fault is FaultMode.PARTIAL_RETRIEVE:
            unavailable = frozenset(
                d.entry.unique_id
                for registration, docs in documents.items()
                if registration.gateway == plan.index
                for d in docs[1::2]
            )
        return RespondingConfig(
            home_community_id=plan.home_community_id,
            tenant=plan.tenant,
            organization_name=plan.organization_name,
            assigning_authority=plan.assigning_authority,
            repository_unique_id=plan.repository_unique_id,
            public_base_url=f"https://{self.config.host}:{sock.getsockname()[1]}",
            matching=MatchConfig(),
            patient_discovery=plan.fault is not FaultMode.NO_MATCH,
            unavailable_documents=unavailable,
        )

    def _seed(
        self,
        plans: list[GatewayPlan],
        configs: list[RespondingConfig],
        population: Population,
        documents: dict[Registration, list[SandboxDocument]],
    ) -> list[Tenant]:
        """A fresh database with every gateway's data; returns the tenants in ``plans`` order."""
        tenants: list[Tenant] = []
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.database_path}{suffix}").unlink(missing_ok=True)
        database = self.database = Database(self.database_url)
        database.upgrade()
        with database.session() as session, session.begin():
            for plan, config in zip(plans, configs, strict=True):
                tenant = ensure_tenant(session, config.tenant, config.organization_name)
                tenants.append(tenant)
                for registration in population.by_gateway[plan.index]:
                    local = register_patient(
                        session,
                        tenant,
                        registration.demographics,
                        assigning_authority=config.assigning_authority,
                        mrn=registration.mrn,
                    )
                    for document in documents.get(registration, ()):
                        add_document(session, tenant, local, document.entry, document.content)
        return tenants

    def _serve(
        self,
        plans: list[GatewayPlan],
        configs: list[RespondingConfig],
        tenants: list[Tenant],
        certificates: list[ServerCertificate],
        sockets: list[socket.socket],
        population: Population,
        documents: dict[Registration, list[SandboxDocument]],
    ) -> None:
        config = self.config
        layout = DevPkiLayout(config.certs_dir)
        trust = TrustStore.from_pem_file(layout.trust_bundle)
        control = SandboxControl()
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logger = logging.getLogger(name)
            if logger.level == logging.NOTSET or logger.level < logging.WARNING:
                logger.setLevel(logging.WARNING)
        assert self.database is not None
        held: defaultdict[int, list[int]] = defaultdict(lambda: [0, 0])
        for registration in population.registrations:
            held[registration.gateway][0] += 1
            held[registration.gateway][1] += len(documents.get(registration, ()))
        gateways: list[SandboxGateway] = []
        for plan, responding, tenant, certificate, sock in zip(
            plans, configs, tenants, certificates, sockets, strict=True
        ):
            verifier = MessageVerifier(
                trust=trust,
                policy=VerificationPolicy(audiences=responding.audiences),
                replay_cache=InMemoryReplayCache(),
            )
            # The tenant seeded above, so no request has to look it up or create it.
            gateway = RespondingGateway(config=responding, database=self.database, verifier=verifier)
            gateway.prepare(tenant)
            app = GatewayBehaviour(
                create_responding_app(gateway),
                config=responding,
                control=control,
                fault=plan.fault,
                latency=plan.latency,
                seed=config.seed * 100_003 + plan.index,
                drip_bytes_per_second=config.drip_bytes_per_second,
            )
            context = server_ssl_context(
                certificate=certificate.path, private_key=certificate.path, trust_bundle=layout.trust_bundle
            )
            port = sock.getsockname()[1]
            server = uvicorn.Server(_uvicorn_config(app, context, config.host, port))
            self._servers.append((server, sock))
            gateways.append(
                SandboxGateway(
                    index=plan.index,
                    label=plan.label,
                    home_community_id=plan.home_community_id,
                    organization_name=plan.organization_name,
                    base_url=responding.public_base_url,
                    port=port,
                    endpoints={t: responding.endpoint_url(t) for t in Transaction},
                    fault=plan.fault,
                    latency=plan.latency,
                    place=plan.place,
                    patients=held[plan.index][0],
                    documents=held[plan.index][1],
                    config=responding,
                    certificate=certificate.path,
                )
            )
        self.gateways = tuple(gateways)
        self._thread = threading.Thread(
            target=self._run, args=(control,), name="hiegate-sandbox", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join(timeout=10)
            raise RuntimeError(f"the sandbox did not start: {self._error!r}") from self._error

    def _run(self, control: SandboxControl) -> None:
        try:
            asyncio.run(self._main(control))
        except BaseException as exc:  # reported to start() or logged by stop()
            self._error = exc
        finally:
            self._ready.set()

    async def _main(self, control: SandboxControl) -> None:
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = self.config.threads
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in self._servers]
        try:
            while not all(server.started for server, _ in self._servers):
                failed = next((t for t in tasks if t.done()), None)
                if failed is not None:
                    failed.result()
                    raise RuntimeError("a gateway server stopped during start-up")
                await asyncio.sleep(0.005)
            self._ready.set()
            await self._stop.wait()
        finally:
            control.stopping.set()
            servers = [server for server, _ in self._servers]
            for server in servers:
                server.should_exit = True
            # Idle keep-alive TLS connections wait for the client's close_notify, which a pooled client
            # never sends: give in-flight answers a moment, then abort what is left.
            deadline = time.monotonic() + _GRACE_SECONDS
            while any(s.server_state.connections for s in servers) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            for server in servers:
                for connection in list(server.server_state.connections):
                    transport = getattr(connection, "transport", None)
                    if isinstance(transport, asyncio.BaseTransport) and hasattr(transport, "abort"):
                        transport.abort()
            await asyncio.gather(*tasks, return_exceptions=True)
            control.abort_all()
            await asyncio.sleep(0.05)  # connection_lost callbacks close the sockets

    def _write_files(
        self,
        plans: list[GatewayPlan],
        configs: list[RespondingConfig],
        population: Population,
        documents: dict[Registration, list[SandboxDocument]],
    ) -> None:
        write_json(self.directory_path, directory_bundle(plans, configs))

        def held(owner: str) -> dict[int, int]:
            return {r.gateway: len(documents.get(r, ())) for r in population.of(owner)}

        self.patients = [expected_json(p, held(p.label), plans) for p in population.persons]
        self.decoys = []
        for decoy, kind, person in population.decoys:
            entry = expected_json(decoy, held(decoy.label), plans)
            self.decoys.append({**entry, "kind": kind, "decoy_of": person})
        write_json(self.patients_path, self.patients)
        write_json(self.decoys_path, self.decoys)

    # -- stop ----------------------------------------------------------------------------------------------

    def _dispose(self) -> None:
        if self.database is not None:
            self.database.dispose()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every server and the loop thread, close sockets and the database (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            if self._thread.is_alive():
                log.error("the sandbox loop did not stop within %.0f s", timeout)
        for _, sock in self._servers:
            sock.close()
        self._dispose()

    def gateway(self, key: int | str) -> SandboxGateway:
        """A gateway by index, label (``gw3``) or homeCommunityId."""
        for gateway in self.gateways:
            if key in (gateway.index, gateway.label, gateway.home_community_id):
                return gateway
        raise KeyError(key)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def start_sandbox(config: SandboxConfig) -> Sandbox:
    """Start a sandbox and return it running; call :meth:`Sandbox.stop` when done."""
    return Sandbox(config).start()


@contextmanager
def run_sandbox(config: SandboxConfig) -> Iterator[Sandbox]:
    """``with run_sandbox(SandboxConfig(gateways=20)) as sandbox: ...``: started, then always stopped."""
    sandbox = start_sandbox(config)
    try:
        yield sandbox
    finally:
        sandbox.stop()
