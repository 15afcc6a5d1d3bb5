"""The persisted side of a pull: each step is one database transaction that records the work, its audit record
(for an exchange) and the job's recomputed counters and state, so a worker killed at any point leaves the job
at a step boundary and a fresh worker resumes from there.

Synchronous on purpose: the worker runs every call on one writer thread (SQLite has one writer; the audit
chain serializes a tenant's appends anyway), so the event loop never waits on the database.

The per-exchange steps exist twice: as a method that runs in its own transaction (``record_discovery``) and as
a step factory (``discovery_step``) whose steps :meth:`~.base.JobStoreBase.run_steps` runs several to one
transaction (group commit), still each step's work with its own audit record, counters recomputed once.

:class:`JobStore` combines one class per part of the pull, all on :class:`~.base.JobStoreBase` (tenant, job
and gateway rows, requestor, a gateway's accounting and failure):

* :mod:`.lifecycle`: the local patient, ``create_job``, ``unfinished_jobs``, ``claim`` (resume), ``fail_job``,
  ``reports``;
* :mod:`.discovery`: ITI-55 (``reuse_link``, ``drop_link``, ``record_discovery`` and the patient link);
* :mod:`.query`: ITI-38 (``record_query``);
* :mod:`.retrieve`: ITI-39 (``documents_to_retrieve``, ``record_retrieve``), ``finish_gateway``,
  ``fail_gateway``;
* :mod:`.conversion`: ``documents_to_convert``, ``record_conversion``, ``patient_bundles``, ``complete``,
  ``consolidated``;
* :mod:`.counters`: the counters and state machine every step ends with;
* :mod:`.plans`: what the steps return (:class:`JobPlan`, :class:`GatewayPlan`, :class:`PendingDocument`,
  :class:`Progress`).
"""

from gateway.initiating.jobs.plans import GatewayPlan, JobPlan, PendingDocument, Progress
from gateway.initiating.jobs.store import JobStore

__all__ = ["GatewayPlan", "JobPlan", "JobStore", "PendingDocument", "Progress"]
