"""The persisted side of a pull: each step is one database transaction that records the work, its audit record
(for an exchange) and the job's recomputed counters and state, so a worker killed at any point leaves the job
at a step boundary and a fresh worker resumes from there.

Synchronous on purpose: the worker runs every call on one writer thread (SQLite has one writer; the audit
chain serializes a tenant's appends anyway), so the event loop never waits on the database.

The per-gateway work comes as step factories (``discovery_step``): the worker hands their steps to
:meth:`~.base.JobStoreBase.run_steps`, which runs several to one transaction (group commit), still each step's
work with its own audit record, counters recomputed once.

:class:`JobStore` combines one class per part of the pull, all on :class:`~.base.JobStoreBase` (tenant, job
and gateway rows, requestor, a gateway's accounting and failure):

* :mod:`.lifecycle`: the local patient, ``create_job``, ``unfinished_jobs``, ``claim`` (resume), ``fail_job``,
  ``reports``;
* :mod:`.discovery`: ITI-55 (``reuse_link_step``, ``drop_link_step``, ``discovery_step``, the patient link);
* :mod:`.query`: ITI-38 (``query_step``);
* :mod:`.retrieve`: ITI-39 (``documents_to_retrieve_step``, ``retrieve_step``), ``finish_gateway_step``,
  ``fail_gateway_step``;
* :mod:`.conversion`: ``documents_to_convert``, ``conversion_step``, ``patient_bundles``, ``complete``,
  ``consolidated``;
* :mod:`.counters`: the counters and state machine every step ends with;
* :mod:`.plans`: what the steps return (:class:`JobPlan`, :class:`GatewayPlan`, :class:`PendingDocument`,
  :class:`Progress`).
"""

from gateway.initiating.jobs.plans import GatewayPlan, JobPlan, PendingDocument, Progress
from gateway.initiating.jobs.store import JobStore

__all__ = ["GatewayPlan", "JobPlan", "JobStore", "PendingDocument", "Progress"]
