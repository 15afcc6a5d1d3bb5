"""``PullService``: everything a pull needs, wired once (from settings or explicitly), used by the CLI, the
demo, the benchmark and tests.

::

    service = PullService.from_settings(settings, database)
    summary = asyncio.run(service.pull(request, listeners=[display.on_event]))

A service owns the circuit breakers and the TLS sessions (shared by its pulls, in memory), the job store and
the audit log. Each :meth:`run` builds a worker, and a fresh transport (its connections belong to one event
loop) that it closes at the end, unless the run is inside :meth:`PullService.connections` on the same event
loop: then the runs share one transport, so a pull to gateways a recent pull talked to reuses the open
connections (HTTP keep-alive) instead of paying a TLS handshake per gateway again. A long-running process (the
FHIR API's worker) keeps its connections this way; a one-shot CLI pull has nothing to reuse. A new connection
to a gateway an earlier pull of the service talked to (its idle connection expired, or another event loop)
resumes that pull's TLS session: an abbreviated handshake without certificates or signatures.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from certs import CertificatePurpose, DevPkiLayout, load_identity
from gateway.audit import AuditLog, AuditSource
from gateway.config import Settings
from gateway.directory import (
    Community,
    PartnersConfig,
    Selection,
    list_communities,
    partners_of,
    select_gateways,
)
from gateway.initiating.breaker import BreakerPolicy, CircuitBreakers
from gateway.initiating.codec import parse_purpose
from gateway.initiating.cpu import CpuMeter
from gateway.initiating.events import EventBus, Listener
from gateway.initiating.exchange import Caller, Exchanger
from gateway.initiating.http11 import TlsSessions
from gateway.initiating.jobs import JobStore
from gateway.initiating.models import PullRequest, PullSummary, record_bundle
from gateway.initiating.settle import SettlePolicy
from gateway.initiating.transport import GatewayTransport, RetryPolicy
from gateway.initiating.worker import PullWorker, StepHook
from gateway.security import (
    IssuerConfig,
    Organization,
    OutboundSecurity,
    PurposeOfUse,
    RequestingUser,
    Role,
    SigningIdentity,
    client_ssl_context,
)
from gateway.store import Database

__all__ = ["PullService", "ServiceOptions", "default_user"]


@dataclass(frozen=True)
class ServiceOptions:
    max_concurrency: int = 256
    match_threshold: int = 85
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    settle: SettlePolicy = field(default_factory=SettlePolicy)


def default_user(settings: Settings, purpose: PurposeOfUse | None = None) -> RequestingUser:
    """The CLI's requesting user from the settings (``requesting_user_*``, ``default_purpose_of_use``)."""
    return RequestingUser(
        user_id=settings.requesting_user_id,
        name=settings.requesting_user_name,
        role=Role(settings.requesting_user_role),
        organization=Organization(settings.organization_name, settings.home_community_id),
        purpose_of_use=purpose or parse_purpose(settings.default_purpose_of_use),
        npi=settings.requesting_user_npi,
    )


class PullService:
    """Pulls for one tenant of one gateway."""

    def __init__(
        self,
        *,
        database: Database,
        security: OutboundSecurity,
        ssl_context: ssl.SSLContext,
        home_community_id: str,
        tenant: str,
        organization_name: str,
        assigning_authority: str,
        partners: PartnersConfig | None = None,
        options: ServiceOptions | None = None,
        audit: AuditLog | None = None,
        later_pulls: bool = True,
    ) -> None:
        self.database = database
        self.security = security
        self.ssl_context = ssl_context
        self.home_community_id = home_community_id
        self.partners = partners or PartnersConfig()
        self.options = options or ServiceOptions()
        self.breakers = CircuitBreakers(self.options.breaker)
        # Outlive each pull's transport, as the breakers do: a later pull's new connections resume them.
        # Without later pulls (a one-shot `hiegate pull`), a connection's session is read only for another
        # connection of the same pull (see gateway.initiating.tls_sessions).
        self.tls_sessions = TlsSessions(lasting=later_pulls)
        self.cpu = CpuMeter()
        self._kept: tuple[asyncio.AbstractEventLoop, GatewayTransport] | None = None
        audit = audit or AuditLog(
            source=AuditSource(
                source_id=home_community_id, site=organization_name, home_community_id=home_community_id
            )
        )
        self.store = JobStore(
            database,
            audit,
            tenant=tenant,
            organization_name=organization_name,
            assigning_authority=assigning_authority,
            home_community_id=home_community_id,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, database: Database, *, later_pulls: bool = True
    ) -> PullService:
        """Certificates from ``certs_dir`` (client TLS identity, signing identity, trust bundle), partners
        from ``partners_file``, limits from the ``pull_*`` settings; ``later_pulls=False`` for a service that
        runs one pull and ends (TLS sessions are not kept for pulls that will not come)."""
        layout = DevPkiLayout(settings.certs_dir)
        password = settings.key_password.get_secret_value() if settings.key_password else None
        signing = load_identity(
            layout.certificate(CertificatePurpose.SIGNING),
            layout.key(CertificatePurpose.SIGNING),
            password=password,
        )
        identity = SigningIdentity.of(signing.certificate, signing.private_key)
        issuer = IssuerConfig(identity.certificate.subject.rfc4514_string(), settings.home_community_id)
        context = client_ssl_context(
            certificate=layout.certificate(CertificatePurpose.TLS_CLIENT),
            private_key=layout.key(CertificatePurpose.TLS_CLIENT),
            trust_bundle=layout.trust_bundle,
            key_password=password,
        )
        options = ServiceOptions(
            max_concurrency=settings.pull_max_concurrency,
            match_threshold=settings.pull_match_threshold,
            breaker=BreakerPolicy(settings.pull_breaker_failures, settings.pull_breaker_recovery_seconds),
            settle=SettlePolicy(
                factor=settings.pull_overdue_factor,
                margin_s=settings.pull_overdue_margin_seconds,
                enabled=settings.pull_early_record,
            ),
        )
        return cls(
            database=database,
            security=OutboundSecurity(issuer, identity),
            ssl_context=context,
            home_community_id=settings.home_community_id,
            tenant=settings.tenant,
            organization_name=settings.organization_name,
            assigning_authority=settings.assigning_authority or f"{settings.home_community_id}.2",
            partners=partners_of(settings),
            options=options,
            later_pulls=later_pulls,
        )

    def communities(self) -> list[Community]:
        with self.database.session() as session:
            return list_communities(session)

    def select(self, request: PullRequest, communities: Iterable[Community] | None = None) -> Selection:
        """The gateways ``request`` asks, from ``communities`` (default: the directory in the database)."""
        state = next((a.state for a in request.demographics.addresses if a.state), None)
        return select_gateways(
            self.communities() if communities is None else communities,
            request.selection,
            patient_state=state,
            patient_point=request.patient_point,
        )

    def create_job(self, request: PullRequest, selection: Selection | None = None) -> uuid.UUID:
        """A new job for ``request`` asking ``selection`` (default: :meth:`select`'s)."""
        return self.store.create_job(request, self.select(request) if selection is None else selection)

    def unfinished(self, *, held: bool = True) -> list[uuid.UUID]:
        """Unfinished jobs, oldest first; ``held=False``: only those no live worker holds."""
        return self.store.unfinished_jobs(held=held)

    def unfinished_job_for(self, request: PullRequest) -> uuid.UUID | None:
        """An unfinished job that asked exactly ``request`` (see :meth:`JobStore.unfinished_job_for`)."""
        return self.store.unfinished_job_for(request)

    def record(self, job_id: uuid.UUID) -> dict[str, object]:
        """The job's patient record as published so far (the Bundle a finished job's summary carries): read
        after a ``record-ready`` event, it is the early record, before late gateways are merged."""
        *_, job = self.store.reports(job_id)
        return record_bundle(job_id, self.store.consolidated(job.patient_id))

    async def run(
        self,
        job_id: uuid.UUID,
        *,
        listeners: Iterable[Listener] = (),
        step_hook: StepHook | None = None,
        force: bool = False,
    ) -> PullSummary:
        """Run or resume one job in this event loop."""
        kept = self._kept
        shared = kept is not None and kept[0] is asyncio.get_running_loop()
        transport = kept[1] if kept is not None and shared else self._transport()
        worker = PullWorker(
            store=self.store,
            exchanger=Exchanger(transport, Caller(self.home_community_id, self.security), cpu=self.cpu),
            communities=self.communities(),
            partners=self.partners,
            match_threshold=self.options.match_threshold,
            events=EventBus(listeners),
            step_hook=step_hook,
            settle=self.options.settle,
        )
        try:
            return await worker.run(job_id, force=force)
        finally:
            if not shared:
                # Closing the connections (TLS close_notify; reading the sessions they leave for later
                # pulls) is the exchanges' cost too: charged to them.
                await self.cpu.run(transport.aclose())
            worker.close()

    def _transport(self) -> GatewayTransport:
        return GatewayTransport(
            self.ssl_context,
            breakers=self.breakers,
            max_concurrency=self.options.max_concurrency,
            retry=self.options.retry,
            tls_sessions=self.tls_sessions,
        )

    @asynccontextmanager
    async def connections(self) -> AsyncIterator[None]:
        """Share one transport among the runs of this event loop inside the block: its connection pools stay
        open between pulls (each idle connection for the transport's keep-alive expiry), and the global
        concurrency bound covers all of them. Closed when the block ends. Runs on another event loop still
        build and close their own."""
        if self._kept is not None:
            raise RuntimeError("this service already keeps its connections (connections() is not reentrant)")
        transport = self._transport()
        self._kept = (asyncio.get_running_loop(), transport)
        try:
            yield
        finally:
            self._kept = None
            await transport.aclose()

    async def pull(
        self,
        request: PullRequest,
        *,
        listeners: Iterable[Listener] = (),
        step_hook: StepHook | None = None,
    ) -> PullSummary:
        """Create a job for ``request`` and run it."""
        return await self.run(self.create_job(request), listeners=listeners, step_hook=step_hook)
