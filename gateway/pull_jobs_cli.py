"""``hiegate pull --cancel JOB`` and ``hiegate pull --list [N]``: bookkeeping of the tenant's pull jobs, on
the database alone (no certificates, no network client); and the job id argument ``--resume`` takes too.

Light at import: the handlers import what they run.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

from xca.errors import ConfigError

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.initiating.jobs import JobStore

__all__ = ["cancel_job", "job_id_argument", "list_jobs"]


def job_id_argument(text: str, flag: str) -> uuid.UUID:
    """The job id given to ``--{flag}``."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ConfigError(f"--{flag} takes a job id (a UUID)", detail={"setting": flag}) from None


@contextlib.contextmanager
def _bookkeeping(settings: Settings) -> Iterator[JobStore]:
    """The tenant's job store on the upgraded database: only bookkeeping (cancel, list), so no certificates
    or network client are loaded."""
    from gateway.audit import AuditLog, AuditSource
    from gateway.initiating.jobs import JobStore
    from gateway.store import Database, require_existing

    require_existing(settings.database_url, "pull jobs")
    database = Database(settings.database_url)
    try:
        database.upgrade()
        hcid = settings.home_community_id
        yield JobStore(
            database,
            AuditLog(
                source=AuditSource(source_id=hcid, site=settings.organization_name, home_community_id=hcid)
            ),
            tenant=settings.tenant,
            organization_name=settings.organization_name,
            assigning_authority=settings.assigning_authority or f"{hcid}.2",
            home_community_id=hcid,
        )
    finally:
        database.dispose()


def cancel_job(text: str, settings: Settings) -> int:
    """``--cancel JOB``: 0 when the job is now cancelled (or already was)."""
    from gateway.initiating.service import default_user
    from xca.errors import JobCancelledError

    job_id = job_id_argument(text, "cancel")
    with _bookkeeping(settings) as store:
        try:
            was = store.cancel_job(job_id, default_user(settings))
        except JobCancelledError:
            print(f"job {job_id} is already cancelled")
            return 0
        print(f"job {job_id} cancelled (it was {was.value})")
        return 0


def list_jobs(count: int, settings: Settings) -> int:
    """``--list [N]``: the latest ``count`` jobs, newest first, and how to finish the unfinished ones."""
    from gateway.initiating.display import console as make_console
    from gateway.initiating.display import jobs_table

    if count < 1:
        raise ConfigError("--list takes a positive number of jobs", detail={"setting": "list"})
    with _bookkeeping(settings) as store:
        jobs = store.recent_jobs(count)
    console = make_console()
    if not jobs:
        console.print("no pull jobs yet")
        return 0
    console.print(jobs_table(jobs))
    waiting = [job.job_id for job in jobs if job.unfinished and not job.running]
    if waiting:
        console.print(
            ("1 unfinished job" if len(waiting) == 1 else f"{len(waiting)} unfinished jobs")
            + " that no process runs: `hiegate pull --resume JOB` finishes one, e.g. "
            + f"`hiegate pull --resume {waiting[0]}`"
        )
    return 0
