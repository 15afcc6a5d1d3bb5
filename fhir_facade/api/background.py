"""The API's in-process worker: one event loop on a daemon thread that runs pulls, bulk exports and webhook
deliveries in the background, so a request only starts work and returns (202).

Request handlers may run on any event loop (uvicorn's, or a test client's short-lived one); work submitted
here outlives them. Everything it does is persisted first (the pull job, the export row, the delivery row), so
:meth:`Worker.resume` at app start-up picks up what a previous process left unfinished.

Webhooks: an event ``{id, type, job, patient, status, counts}`` (type ``pull.completed``, ``pull.failed`` or
``pull.cancelled``) is stored once per job and final state (the id
is derived from both, so it is idempotent), then POSTed with ``X-HieGateway-Signature: sha256=<hex HMAC-SHA256
of the body>``, ``X-HieGateway-Timestamp`` and ``X-HieGateway-Event-Id``, retried with exponential backoff
for a bounded number of attempts; a delivery never blocks or fails the pull.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import hashlib
import hmac
import logging
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.config import Settings
from gateway.directory import partners_of
from gateway.initiating import (
    ACTIVE_STATES,
    EventKind,
    JobBusyError,
    JobCancelledError,
    JobState,
    ProgressEvent,
    PullService,
    PullSummary,
)
from gateway.store import Database
from gateway.store.api import ApiClient
from gateway.store.api_jobs import ApiExport, ApiPull, ApiWebhook, ApiWebhookDelivery
from gateway.store.models import Tenant, utcnow
from gateway.store.pull import PullJob

__all__ = ["WebhookPolicy", "Worker", "event_id", "remove_webhook", "set_webhook", "sign"]

log = logging.getLogger("fhir_facade.api.worker")
SIGNATURE_HEADER = "X-HieGateway-Signature"
TIMESTAMP_HEADER = "X-HieGateway-Timestamp"
EVENT_HEADER = "X-HieGateway-Event-Id"
_ACTIVE = tuple(state.value for state in ACTIVE_STATES)
_EVENT_TYPES = {JobState.DONE.value: "pull.completed", JobState.CANCELLED.value: "pull.cancelled"}
_RECORD_READY = "record-ready"


@dataclass(frozen=True)
class WebhookPolicy:
    attempts: int = 6
    first_delay: float = 1.0
    factor: float = 2.0
    timeout: float = 10.0


def event_id(job_id: uuid.UUID, state: str) -> str:
    """Stable per job and final state (or ``record-ready``, ``record-updated:N``): the same event always has
    the same id."""
    return hashlib.sha256(f"pull:{job_id}:{state}".encode()).hexdigest()[:32]


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Worker:
    """The background loop and the services it runs work with."""

    def __init__(self, settings: Settings, database: Database, webhooks: WebhookPolicy | None = None) -> None:
        # Read once at start: a named partners file that is missing or broken stops the server with its
        # one-line error (HG-1002/HG-1001), rather than failing each tenant's first $pull later.
        partners_of(settings)
        self.settings = settings
        self.database = database
        self.webhooks = webhooks or WebhookPolicy()
        self._services: dict[str, PullService] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.pending: set[concurrent.futures.Future[Any]] = set()
        self._notifying: set[asyncio.Task[None]] = set()
        self._running: set[uuid.UUID] = set()  # jobs this process runs now (touched on its loop only)
        self.export_runner: Callable[[uuid.UUID], None] | None = None
        # Each tenant's service keeps its connections to the gateways open on this loop between pulls (a
        # pull soon after another skips the TLS handshakes); closed when the loop stops.
        self._connections = contextlib.AsyncExitStack()
        self._connected: set[str] = set()

    # --- the loop -----------------------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name="hiegate-api-worker", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def submit(self, work: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        future = asyncio.run_coroutine_threadsafe(work, self._ensure_loop())
        self.pending.add(future)
        future.add_done_callback(self.pending.discard)
        return future

    def close(self) -> None:
        with self._lock:
            loop, thread, self._loop = self._loop, self._thread, None
        if loop is None:
            return

        async def stop() -> None:
            current = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            connections, self._connections = self._connections, contextlib.AsyncExitStack()
            self._connected.clear()
            await connections.aclose()
            await loop.shutdown_asyncgens()
            loop.stop()

        asyncio.run_coroutine_threadsafe(stop(), loop)
        if thread is not None:
            thread.join(timeout=10)
        if not loop.is_running():
            loop.close()

    # --- pulls ------------------------------------------------------------------------------------------

    def service(self, tenant: Tenant) -> PullService:
        """The pull service of ``tenant`` (one per tenant: a service pulls for one tenant)."""
        with self._lock:
            found = self._services.get(tenant.slug)
            if found is None:
                settings = self.settings.model_copy(
                    update={"tenant": tenant.slug, "organization_name": tenant.name}
                )
                found = PullService.from_settings(settings, self.database)
                self._services[tenant.slug] = found
            return found

    def start_pull(self, tenant: Tenant, job_id: uuid.UUID) -> concurrent.futures.Future[Any]:
        return self.submit(self._run_pull(tenant, job_id))

    async def _run_pull(self, tenant: Tenant, job_id: uuid.UUID) -> PullSummary | None:
        if job_id in self._running:
            return None  # the same pull asked again while this process runs it: one run is enough
        self._running.add(job_id)
        try:
            return await self._run_pull_once(tenant, job_id)
        finally:
            self._running.discard(job_id)

    async def _run_pull_once(self, tenant: Tenant, job_id: uuid.UUID) -> PullSummary | None:
        service = self.service(tenant)
        if tenant.slug not in self._connected:
            self._connected.add(tenant.slug)
            await self._connections.enter_async_context(service.connections())
        loop = asyncio.get_running_loop()

        def on_event(event: ProgressEvent) -> None:
            if event.kind in (EventKind.RECORD_READY, EventKind.RECORD_UPDATED):
                notify = loop.create_task(self._notify(job_id, record=event.kind))
                self._notifying.add(notify)  # held until done: the loop keeps only weak references
                notify.add_done_callback(self._notifying.discard)

        try:
            summary = await service.run(job_id, listeners=[on_event])
        except JobBusyError:
            log.info("pull job %s is run by another worker", job_id)
            return None
        except JobCancelledError:
            # Cancelled while queued: never started; the client still hears of its final state.
            log.info("pull job %s was cancelled before it ran", job_id)
            summary = None
        except Exception:
            log.exception("pull job %s stopped", job_id)
            summary = None
        await self._notify(job_id)
        return summary

    def resume(self) -> int:
        """Resume every unfinished pull job started through the API, unfinished exports and deliveries."""
        with self.database.session() as session:
            tenants = list(
                session.scalars(
                    select(Tenant)
                    .join(PullJob, PullJob.tenant_id == Tenant.id)
                    .join(ApiPull, ApiPull.job_id == PullJob.id)
                    .where(PullJob.state.in_(_ACTIVE))
                    .distinct()
                )
            )
            exports = list(session.scalars(select(ApiExport.id).where(ApiExport.state == "running")))
            deliveries = list(
                session.scalars(
                    select(ApiWebhookDelivery.event_id).where(
                        ApiWebhookDelivery.delivered_at.is_(None),
                        ApiWebhookDelivery.attempts < self.webhooks.attempts,
                    )
                )
            )
            for tenant in tenants:
                session.expunge(tenant)
        resumed = 0
        for tenant in tenants:
            for job_id in self.service(tenant).unfinished():
                self.start_pull(tenant, job_id)
                resumed += 1
        for export_id in exports:
            self.start_export(export_id)
        for delivery in deliveries:
            self.submit(self._deliver(delivery))
        return resumed + len(exports)

    def notify(self, job_id: uuid.UUID) -> concurrent.futures.Future[Any]:
        """Store and deliver the final-state event of ``job_id`` now (idempotent: the event is stored once
        per job and state), e.g. right after a cancel, whether or not a worker of this process runs it."""
        return self.submit(self._notify(job_id))

    # --- exports ----------------------------------------------------------------------------------------

    def start_export(self, export_id: uuid.UUID) -> concurrent.futures.Future[Any]:
        runner = self.export_runner
        assert runner is not None

        async def run() -> None:
            await asyncio.get_running_loop().run_in_executor(None, runner, export_id)

        return self.submit(run())

    # --- webhooks ---------------------------------------------------------------------------------------

    async def _notify(self, job_id: uuid.UUID, *, record: EventKind | None = None) -> None:
        """Store the completion event of ``job_id`` (once) and deliver it, if its client has a webhook;
        ``record``: the event that its record was published while late gateways were still asked
        (``record-ready``) or grew by what they sent (``record-updated``)."""
        loop = asyncio.get_running_loop()
        stored = await loop.run_in_executor(None, functools.partial(self._store_event, job_id, record=record))
        if stored is not None:
            self.submit(self._deliver(stored))

    def _store_event(self, job_id: uuid.UUID, *, record: EventKind | None = None) -> str | None:
        with self.database.session() as session, session.begin():
            job = session.get(PullJob, job_id)
            pull = session.get(ApiPull, job_id)
            if job is None or pull is None:
                return None
            if record is not None:
                # Published early: the record is readable now; the completion event follows at the end.
                if job.record_ms is None or job.state not in _ACTIVE:
                    return None
                if record is EventKind.RECORD_UPDATED:
                    # One event per state of the record: its id stays stable if the same update is told twice.
                    key, kind = f"record-updated:{job.documents_converted}", "pull.record-updated"
                else:
                    key, kind = _RECORD_READY, "pull.record-ready"
            elif job.state in _ACTIVE:
                return None
            else:
                key, kind = job.state, _EVENT_TYPES.get(job.state, "pull.failed")
            hook = session.get(ApiWebhook, pull.client_pk)
            if hook is None:
                return None
            identifier = event_id(job_id, key)
            if session.get(ApiWebhookDelivery, identifier) is not None:
                return None  # already stored (and delivered or being delivered)
            body = {
                "id": identifier,
                "type": kind,
                "job": str(job_id),
                "patient": str(job.patient_id),
                "status": job.state,
                "counts": {
                    "gatewaysSelected": job.gateways_selected,
                    "gatewaysMatched": job.gateways_matched,
                    "gatewaysFailed": job.gateways_failed,
                    "documentsFound": job.documents_found,
                    "documentsRetrieved": job.documents_retrieved,
                    "documentsConverted": job.documents_converted,
                    "resourcesStored": job.resources_stored,
                },
            }
            session.add(
                ApiWebhookDelivery(
                    event_id=identifier,
                    tenant_id=pull.tenant_id,
                    client_pk=pull.client_pk,
                    job_id=job_id,
                    url=hook.url,
                    body=orjson.dumps(body).decode(),
                    attempts=0,
                )
            )
            return identifier

    async def _deliver(self, identifier: str) -> bool:
        loop = asyncio.get_running_loop()
        policy = self.webhooks
        async with httpx.AsyncClient(timeout=policy.timeout) as client:
            while True:
                found = await loop.run_in_executor(None, self._delivery, identifier)
                if found is None:
                    return False
                url, body, secret, attempts = found
                if attempts >= policy.attempts:
                    log.warning("webhook event %s: gave up after %d attempts", identifier, attempts)
                    return False
                if attempts:
                    await asyncio.sleep(policy.first_delay * policy.factor ** (attempts - 1))
                content = body.encode()
                headers = {
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(secret, content),
                    TIMESTAMP_HEADER: str(int(time.time())),
                    EVENT_HEADER: identifier,
                }
                error: str | None = None
                try:
                    response = await client.post(url, content=content, headers=headers)
                    if not 200 <= response.status_code < 300:
                        error = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"[:500]
                await loop.run_in_executor(None, self._record_attempt, identifier, error)
                if error is None:
                    return True

    def _delivery(self, identifier: str) -> tuple[str, str, str, int] | None:
        with self.database.session() as session:
            row = session.get(ApiWebhookDelivery, identifier)
            if row is None or row.delivered_at is not None:
                return None
            hook = session.get(ApiWebhook, row.client_pk)
            if hook is None:
                return None
            # The client's webhook as it is now: one replaced after the event was queued gets it, signed with
            # its own secret (the old URL's receiver would not know the new secret).
            return hook.url, row.body, hook.secret, row.attempts

    def _record_attempt(self, identifier: str, error: str | None) -> None:
        with self.database.session() as session, session.begin():
            row = session.get(ApiWebhookDelivery, identifier)
            if row is None:
                return
            row.attempts += 1
            row.last_error = error
            if error is None:
                row.delivered_at = utcnow()


def _client(session: Session, client_id: str) -> ApiClient:
    client = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    if client is None:
        raise ValueError(f"no client {client_id!r}")
    return client


def set_webhook(database: Database, client_id: str, url: str, secret: str) -> bool:
    """Register (or replace) the completion webhook of ``client_id``: an https URL (http only to the local
    host, for development), and a secret of at least 8 characters. True when it replaced one; ``ValueError``
    for a refused URL or secret or an unknown client."""
    parts = urlsplit(url)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise ValueError("the webhook URL must be https (http only to the local host)")
    if not parts.hostname or len(url) > 1024:
        raise ValueError("the webhook URL must name a host and have at most 1024 characters")
    if not 8 <= len(secret) <= 255:
        raise ValueError("the webhook secret must have at least 8 characters (and at most 255)")
    with database.session() as session, session.begin():
        client = _client(session, client_id)
        hook = session.get(ApiWebhook, client.id)
        if hook is None:
            session.add(ApiWebhook(client_pk=client.id, url=url, secret=secret))
            return False
        hook.url, hook.secret = url, secret
        return True


def remove_webhook(database: Database, client_id: str) -> str:
    """Remove the webhook of ``client_id`` (deliveries not yet made stop); its URL. ``ValueError`` for an
    unknown client or one without a webhook."""
    with database.session() as session, session.begin():
        client = _client(session, client_id)
        hook = session.get(ApiWebhook, client.id)
        if hook is None:
            raise ValueError(f"client {client_id!r} has no webhook")
        url = hook.url
        session.delete(hook)
        return url
