"""The pull worker: runs (or resumes) one job to its end on an asyncio event loop.

Every selected gateway gets its own pipeline, all running at once: ITI-55 (or a link from an earlier pull) →
match evaluation → ITI-38 → ITI-39 in the partner's batch size, batches concurrent up to the partner's
connection limit. So the network phase lasts about as long as the slowest gateway's own chain of answers, not
the sum over gateways. Each answer is persisted (with its audit record) before the next request of that
gateway goes out; answers that arrive while the writer thread is busy are persisted together, one transaction
for the lot (:mod:`gateway.initiating.batching`); documents are converted on a conversion thread as they
arrive; at the end the patient's documents are consolidated into one record.

The record is published as soon as the only work left is requests overdue against this pull's own answers
(:mod:`gateway.initiating.settle`): a hanging gateway does not hold the record to its partner timeout. The
worker still waits for such gateways up to that timeout; what they bring late is converted and merged, and
the record published again as soon as their work is done (and at the job's end if anything changed since).

Resuming is the same code: a gateway's persisted stage says where its pipeline starts, links and documents
already held are not asked for again, and converted resources are upserted by id. A ``BaseException`` (a kill,
Ctrl-C, an injected crash) leaves the job resumable; an unexpected ``Exception`` in one gateway's pipeline
costs that gateway (``HG-6000``), anywhere else it marks the job ``failed``.

Cancelling (:meth:`~gateway.initiating.jobs.JobStore.cancel_job`, from any process) only changes the persisted
state; every persisted step reads it back in its own transaction, so the worker learns of it at its next step
boundary. It then sends no new request (ITI-55, ITI-38 or ITI-39 batch), converts nothing more and does not
consolidate; answers already in flight are persisted and audited as always. At the end the unfinished gateways
are closed (``skipped`` or ``cancelled``) and the final progress event is emitted. A cancelled job is refused
when claimed (:class:`~xca.errors.JobCancelledError`), so it is never resumed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from dataclasses import replace

from fhir_facade.ccda.consolidate import consolidate
from fhir_facade.documents import link_to_patient
from gateway.audit import RemotePeer, Transaction
from gateway.initiating.documents import convert_document, is_convertible
from gateway.initiating.evaluate import evaluate_matches
from gateway.initiating.events import EventKind, ProgressEvent
from gateway.initiating.exchange import ExchangeRecord, Target
from gateway.initiating.jobs import GatewayPlan, JobPlan, PendingDocument
from gateway.initiating.models import (
    ACTIVE_STATES,
    DocumentState,
    GatewayStage,
    JobState,
    PullSummary,
    record_bundle,
)
from gateway.initiating.runtime import StepHook, WorkerRuntime
from gateway.store.models import utcnow
from xca import iti39
from xca.errors import ExchangeError, HieGatewayError, PullError
from xca.ids import Cx
from xca.registry import XdsErrorCode

__all__ = ["PullWorker", "StepHook"]

log = logging.getLogger("gateway.initiating")


class PullWorker(WorkerRuntime):
    """Runs jobs of one :class:`JobStore` through one :class:`Exchanger`; one instance per event loop."""

    async def run(self, job_id: uuid.UUID, *, force: bool = False) -> PullSummary:
        """Run or resume ``job_id`` to ``done``, ``failed`` or ``cancelled`` and return its summary; a job
        cancelled before this run is refused (:class:`~xca.errors.JobCancelledError`)."""
        plan = await self._db(self.store.claim, job_id, force=force)
        state, counters, _, job = await self._db(self.store.reports, job_id)
        self._state, self._counters = state, counters
        self.events.emit(ProgressEvent(EventKind.JOB_STARTED, job_id, state, counters))
        if plan.state in (JobState.DONE, JobState.FAILED):
            return await self._summary(plan)
        # The job's times (record, done) count from when it was asked: for a resumed job its earlier runs
        # and the time between them included, not only this run's.
        started = time.perf_counter() - max(0.0, (utcnow() - job.created_at).total_seconds())
        self._start_run()
        self._watch.answered_before(plan.answered)  # a resumed job's earlier answers count too
        if plan.record_current:  # published by an earlier run with all it converted: updated only if it grows
            self._published = 0
        publisher = asyncio.create_task(self._publish_when_due(plan, started))
        try:
            try:
                fanout = self._watch.now()  # every gateway's ITI-55 is asked now (see settle)
                async with asyncio.TaskGroup() as group:
                    for gateway in plan.gateways:
                        if gateway.stage is not GatewayStage.DONE:
                            group.create_task(self._gateway(plan, gateway, fanout))
            finally:
                # A record being published finishes first (its transaction is on the writer thread).
                self._watch.close()
                await publisher
            await self._convert_ready(plan)
            await self._finish(plan, started)
            if self._cancelled:
                progress = await self._db(self.store.settle_cancelled, job_id)
                self._emit(EventKind.GATEWAY_UPDATED, job_id, progress)
        except* PullError as group_error:
            # Only the job's own bookkeeping raises these (gateway failures are values): the job cannot go on.
            error = group_error.exceptions[0]
            assert isinstance(error, PullError)
            await self._db(self.store.fail_job, job_id, error.code, error.message)
        return await self._summary(plan)

    async def _summary(self, plan: JobPlan) -> PullSummary:
        """The job's summary; its duration is the job's own, from when it was asked to when it ended (also
        when it had ended before this run)."""
        state, counters, reports, job = await self._db(self.store.reports, plan.job_id)
        ended = ((job.finished_at or utcnow()) - job.created_at).total_seconds()
        bundle: dict[str, object] | None = None
        if state is JobState.DONE:
            resources = await self._db(self.store.consolidated, plan.patient_id)
            bundle = record_bundle(plan.job_id, resources)
        summary = PullSummary(
            job_id=plan.job_id,
            state=state,
            counters=counters,
            gateways=reports,
            wall_ms=int(ended * 1000),
            record_ms=job.record_ms,
            bundle=bundle,
            error_code=job.error_code,
            error_detail=job.error_detail,
        )
        self.events.emit(ProgressEvent(EventKind.JOB_FINISHED, plan.job_id, state, counters))
        return summary

    def _target(self, hcid: str) -> Target | None:
        community = self.communities.get(hcid)
        if community is None or community.gateway.iti55 is None:
            return None
        return Target(hcid, community.name, community.gateway, self.partners.for_community(hcid))

    def _remote(self, target: Target, url: str | None) -> RemotePeer:
        return RemotePeer(home_community_id=target.home_community_id, endpoint=url, organization=target.name)

    async def _publish_when_due(self, plan: JobPlan, started: float) -> None:
        """Publish the record once the only work left is overdue requests and it holds a document (never
        if every gateway finishes first: the job's end publishes it then). Then publish it again whenever
        late gateways' documents were converted and, their work done, only requests are left again: a
        healthy gateway slower than the rule allows adds its documents when it is done, not when the last
        hanging gateway times out. A job resumed after its record was published goes straight to updating
        it: this run has no answers of its own to judge overdue requests by, and the record is out already."""
        # (``self._published`` is 0 then if that record holds everything the earlier runs converted: only
        # this run's documents update it. Else it stays None: the first update, or the job's end,
        # consolidates again, with what the earlier run converted after it published.)
        if not plan.record_published:
            while True:
                due = self._watch.due_in()
                if self._watch.closed or self._cancelled:
                    return
                if due is None or due > 0:
                    await self._watch.changed(due)
                elif await self._publish(plan, started, late=self._watch.waiting_gateways()):
                    break
                else:
                    # Nothing held yet: a "record ready" now would send clients to an empty record while
                    # the gateways still asked may hold it all. Judged again at the next change.
                    await self._watch.changed(None)
        while True:
            await self._watch.changed(None)
            if self._watch.closed or self._cancelled:
                return
            if self._watch.settled and self._converted != self._published:
                await self._publish(plan, started, late=None)

    async def _publish(self, plan: JobPlan, started: float, *, late: frozenset[str] | None) -> bool:
        """Publish the record as it stands: the first time naming the ``late`` gateways (not while it is
        empty: ``False``), then (``None``) as an update."""
        await self._convert_ready(plan)
        if self._cancelled:
            return True
        converted = self._converted  # counted before the record is read: never more than it holds
        resources, documents = await self._consolidate(plan)
        if late is not None and not resources:
            return False
        progress = await self._db(
            self.store.publish_record,
            plan.job_id,
            resources,
            record_ms=int((time.perf_counter() - started) * 1000),
            late=late,
            documents=documents,
        )
        if progress.state not in ACTIVE_STATES:
            return True  # cancelled from elsewhere after the look above: nothing was published
        self._published = converted
        kind = EventKind.RECORD_READY if late is not None else EventKind.RECORD_UPDATED
        self._emit(kind, plan.job_id, progress)
        return True

    async def _consolidate(self, plan: JobPlan) -> tuple[list[dict[str, object]], int]:
        """The patient's record, and how many documents it was made of."""
        # Ids already published (earlier in this job, or by an earlier pull) stay: a client that read them
        # can read them again after late or new documents are merged.
        bundles, keep = await self._db(self.store.patient_bundles, plan.patient_id)
        if not bundles:
            return [], 0
        loop = asyncio.get_running_loop()
        merge = functools.partial(consolidate, bundles, keep=keep)
        consolidation = await loop.run_in_executor(self._cpu, merge)
        resources = [entry["resource"] for entry in consolidation.bundle.get("entry") or ()]
        link_to_patient(resources)
        return resources, len(bundles)

    async def _gateway(self, plan: JobPlan, gateway: GatewayPlan, fanout: float) -> None:
        with self._watch.working():
            await self._gateway_work(plan, gateway, fanout)

    async def _gateway_work(self, plan: JobPlan, gateway: GatewayPlan, fanout: float) -> None:
        hcid = gateway.home_community_id
        if self._cancelled:
            return
        try:
            target = self._target(hcid)
            if target is None:
                message = "the community is no longer reachable in the directory"
                await self._lost_gateway(plan, hcid, ExchangeError.code, message)
                return
            await self._pipeline(plan, gateway, target, fanout)
        except HieGatewayError as exc:
            await self._lost_gateway(plan, hcid, exc.code, exc.message)
        except Exception as exc:  # one gateway's unexpected failure must not cost the others
            log.exception("pull job %s: gateway %s failed unexpectedly", plan.job_id, hcid)
            await self._lost_gateway(plan, hcid, PullError.code, f"unexpected {type(exc).__name__}")

    async def _lost_gateway(self, plan: JobPlan, hcid: str, code: str, message: str) -> None:
        error = ExchangeError(message, detail={"home_community_id": hcid})
        progress = await self._step(
            plan.job_id, self.store.fail_gateway_step(hcid, error, code=code), urgent=False
        )
        self._emit(EventKind.GATEWAY_UPDATED, plan.job_id, progress, hcid)

    async def _pipeline(
        self, plan: JobPlan, gateway: GatewayPlan, target: Target, fanout: float | None = None
    ) -> None:
        """One gateway's exchanges from its stage on; ``fanout``: when the discovery fan-out asked it."""
        hcid, job_id, user = gateway.home_community_id, plan.job_id, plan.request.user
        stage, remote = gateway.stage, gateway.remote
        reused = False
        # ``self._cancelled`` is checked before each request this pipeline sends.
        if self._cancelled:
            return
        if stage is GatewayStage.PENDING:
            remote = plan.links.get(hcid)
            if remote is not None:
                reused = True
                progress = await self._step(job_id, self.store.reuse_link_step(hcid, remote))
                self._emit(EventKind.GATEWAY_UPDATED, job_id, progress, hcid)
            else:
                remote = await self._discover(plan, target, fanout)
            if remote is None or self._cancelled:
                return
            stage = GatewayStage.MATCHED
        assert remote is not None
        if stage is GatewayStage.MATCHED:
            with self._watch.request(hcid, Transaction.ITI_38) as wait:
                query = await self.exchanger.iti38(
                    target,
                    user,
                    remote,
                    created_from=plan.request.date_from,
                    created_to=plan.request.date_to,
                    retry_while=wait.worth_retrying,
                )
                wait.note(query.error, *_measure(query.record))
            unknown = query.response is not None and any(
                e.error_code == XdsErrorCode.UNKNOWN_PATIENT_ID.value for e in query.response.errors
            )
            if reused and unknown and not query.response.documents:  # type: ignore[union-attr]
                # The linked id is gone over there: forget it and find the patient again (once).
                await self._step(job_id, self.store.drop_link_step(hcid))
                links = {k: v for k, v in plan.links.items() if k != hcid}
                await self._pipeline(
                    replace(plan, links=links),
                    replace(gateway, stage=GatewayStage.PENDING, remote=None),
                    target,
                )
                return
            progress = await self._step(
                job_id,
                self.store.query_step(
                    hcid,
                    user=user,
                    record=query.record,
                    response=query.response,
                    error=query.error,
                    remote=self._remote(target, target.endpoints.iti38),
                    patient=remote,
                ),
            )
            self._emit(EventKind.GATEWAY_UPDATED, job_id, progress, hcid)
            self._hook("iti38")
            if progress.gateway is not None and progress.gateway.stage is GatewayStage.DONE:
                return
            if self._cancelled:
                return
            stage = GatewayStage.QUERIED
        if stage is GatewayStage.QUERIED:
            await self._retrieve(plan, target, remote)

    async def _discover(self, plan: JobPlan, target: Target, asked_at: float | None) -> Cx | None:
        hcid, job_id, request = target.home_community_id, plan.job_id, plan.request
        self.events.emit(
            ProgressEvent(
                EventKind.GATEWAY_ASKED, job_id, self._state, self._counters, home_community_id=hcid
            )
        )
        with self._watch.request(hcid, Transaction.ITI_55, asked_at=asked_at) as wait:
            result = await self.exchanger.iti55(
                target, request.user, request.demographics, plan.local_id, retry_while=wait.worth_retrying
            )
            wait.note(result.error, *_measure(result.record))
        decision = (
            evaluate_matches(request.demographics, result.response, threshold=self.match_threshold)
            if result.response is not None
            else None
        )
        match = decision.match if decision is not None else None
        progress = await self._step(
            job_id,
            self.store.discovery_step(
                hcid,
                user=request.user,
                record=result.record,
                decision=decision,
                error=result.error,
                remote=self._remote(target, target.endpoints.iti55),
                demographics=request.demographics,
            ),
            urgent=match is not None,  # a match is waited for by its ITI-38; anything else ends the gateway
        )
        self._emit(EventKind.GATEWAY_UPDATED, job_id, progress, hcid)
        self._hook("iti55")
        if match is None:
            return None
        return Cx(match.patient_id.extension or "", match.patient_id.root)

    async def _retrieve(self, plan: JobPlan, target: Target, remote: Cx) -> None:
        hcid, job_id, user = target.home_community_id, plan.job_id, plan.request.user
        progress, pending = await self._batch.run(job_id, self.store.documents_to_retrieve_step(hcid))
        self._emit(EventKind.GATEWAY_UPDATED, job_id, progress, hcid)
        size = target.settings.retrieve_batch_size
        batches = [pending[i : i + size] for i in range(0, len(pending), size)]
        limit = asyncio.Semaphore(target.settings.max_connections)

        async def one(batch: list[PendingDocument]) -> None:
            with self._watch.working():
                await send(batch)

        async def send(batch: list[PendingDocument]) -> None:
            async with limit:
                if self._cancelled:  # batches waiting for a connection are not sent
                    return
                requests = [
                    iti39.DocumentRequest(d.home_community_id, d.repository_id, d.unique_id) for d in batch
                ]
                with self._watch.request(hcid, Transaction.ITI_39) as wait:
                    result = await self.exchanger.iti39(
                        target, user, remote, requests, retry_while=wait.worth_retrying
                    )
                    wait.note(result.error, *_measure(result.record))
            progress, stored = await self._batch.run(
                job_id,
                self.store.retrieve_step(
                    hcid,
                    user=user,
                    requested=batch,
                    record=result.record,
                    response=result.response,
                    error=result.error,
                    remote=self._remote(target, target.endpoints.iti39),
                    patient=remote,
                ),
            )
            self._emit(EventKind.GATEWAY_UPDATED, job_id, progress, hcid)
            self._hook("iti39")
            if stored:
                await self._convert_ready(plan)

        with self._watch.idle():  # the batches account for themselves
            async with asyncio.TaskGroup() as group:
                for batch in batches:
                    group.create_task(one(batch))
        if self._cancelled:
            return  # left unfinished: closed as cancelled when the job settles
        progress = await self._step(job_id, self.store.finish_gateway_step(hcid))
        self._emit(EventKind.GATEWAY_UPDATED, job_id, progress, hcid)
        if not batches:
            await self._convert_ready(plan)

    async def _convert_ready(self, plan: JobPlan) -> None:
        """Convert every held, unconverted document of the job (one conversion run at a time)."""
        async with self._convert_lock:
            loop = asyncio.get_running_loop()
            if self._cancelled:
                return
            todo = await self._db(self.store.documents_to_convert, plan.job_id)
            for held in todo:
                if self._cancelled:
                    return
                if held.doc_id in self._converting:
                    continue
                self._converting.add(held.doc_id)
                resources: list[dict[str, object]] | None = None
                error_code: str | None = None
                if held.already:
                    convertible = is_convertible(held.media_type)
                    state = DocumentState.CONVERTED if convertible else DocumentState.STORED
                else:
                    content = await self._db(self.store.load_content, held.raw_id)
                    community = self.communities.get(held.home_community_id)
                    name = community.name if community is not None else None
                    done = await loop.run_in_executor(self._cpu, convert_document, content, held, name)
                    state, resources, error_code = done.state, done.resources, done.error_code
                progress = await self._step(
                    plan.job_id,
                    self.store.conversion_step(
                        held.doc_id, held.raw_id, resources=resources, state=state, error_code=error_code
                    ),
                )
                if resources is not None:
                    self._converted += 1  # committed: a record read from now on holds it
                self._emit(EventKind.DOCUMENT_CONVERTED, plan.job_id, progress)
                self._hook("convert")

    async def _finish(self, plan: JobPlan, started: float) -> None:
        if self._cancelled:
            return
        # Published earlier and nothing converted since: that record stands.
        unchanged = self._published is not None and self._published == self._converted
        resources = None if unchanged else (await self._consolidate(plan))[0]
        progress = await self._db(
            self.store.complete, plan.job_id, resources, wall_ms=int((time.perf_counter() - started) * 1000)
        )
        self._emit(EventKind.GATEWAY_UPDATED, plan.job_id, progress)


def _measure(record: ExchangeRecord | None) -> tuple[int | None, int | None]:
    """Attempts and network latency of an exchange, for the settle account."""
    return (record.attempts, record.latency_ms) if record is not None else (None, None)
