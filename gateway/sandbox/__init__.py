"""The sandbox network: N responding gateways in one process, each its own community, for the initiating
side's demo, tests and benchmarks (``hiegate sandbox``).

``with run_sandbox(SandboxConfig(gateways=20, patients=10, seed=1)) as sandbox:`` starts them on
127.0.0.1 over mutual TLS (server certificates from the dev CA, see :mod:`gateway.sandbox.pki`), seeded
with synthetic persons seen at several organizations (:mod:`gateway.sandbox.population`) and their C-CDA
documents (:mod:`gateway.sandbox.documents`), with per-gateway latency and faults
(:mod:`gateway.sandbox.specs`, :mod:`gateway.sandbox.behaviour`). ``sandbox.directory_path`` is the FHIR
directory Bundle and ``sandbox.patients`` who to look for (:mod:`gateway.sandbox.directory`);
``sandbox.gateways`` the running gateways.
"""

from gateway.sandbox.plan import MAX_GATEWAYS, SANDBOX_ROOT_OID, GatewayPlan, SandboxConfig, sandbox_root
from gateway.sandbox.runtime import Sandbox, SandboxGateway, run_sandbox, start_sandbox
from gateway.sandbox.specs import FaultMode, LatencySpec, parse_faults, parse_latency

__all__ = [
    "MAX_GATEWAYS",
    "SANDBOX_ROOT_OID",
    "FaultMode",
    "GatewayPlan",
    "LatencySpec",
    "Sandbox",
    "SandboxConfig",
    "SandboxGateway",
    "parse_faults",
    "parse_latency",
    "run_sandbox",
    "sandbox_root",
    "start_sandbox",
]
