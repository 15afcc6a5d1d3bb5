"""Runs one pull job in its own process, for the test that kills a pull with SIGKILL.

``python -m tests.gateway.initiating._pull_child PKI_DIR DATABASE_URL JOB_ID``
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

from gateway.store import Database
from tests.gateway.initiating.conftest import service_for


def main(argv: list[str]) -> int:
    pki, url, job = argv
    database = Database(url)
    try:
        # The test process created the job (and so holds it, alive): this process takes it over.
        asyncio.run(service_for(Path(pki), database).run(uuid.UUID(job), force=True))
    finally:
        database.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
