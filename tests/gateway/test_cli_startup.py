"""``hiegate`` starts light: building its parser (all it needs for ``--help`` and usage errors) loads none
of the machinery the commands run on. Each handler imports what it needs when it runs."""

from __future__ import annotations

import json
import subprocess
import sys

# Each is loaded by some command's handler, never by the parser: the database and migrations, the FHIR API,
# the XML parser, message signing, the HTTP client, the progress display, the settings and the PKI.
_HEAVY = (
    "sqlalchemy",
    "alembic",
    "fastapi",
    "uvicorn",
    "lxml.etree",
    "signxml",
    "httpx",
    "rich",
    "pydantic",
    "pydantic_settings",
    "cryptography.x509",
)

_PROBE = f"""
import json, sys
from gateway.cli import _parser
commands = _parser()._subparsers._group_actions[0].choices
print(json.dumps({{"commands": sorted(commands), "loaded": [m for m in {_HEAVY!r} if m in sys.modules]}}))
"""


def test_building_the_parser_loads_no_heavy_module() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    found = json.loads(done.stdout)
    assert {"audit", "clients", "config", "convert", "db", "pull", "respond", "sandbox", "serve"} <= set(
        found["commands"]
    )
    assert found["loaded"] == []
