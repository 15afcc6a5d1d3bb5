"""What a sandbox is before anything runs: its settings (:class:`SandboxConfig`) and each gateway's
community, organization, place, fault mode and latency (:class:`GatewayPlan`)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from gateway.sandbox.geo import METROS, Place, organization_name, place_for
from gateway.sandbox.specs import (
    FaultMode,
    LatencySpec,
    assign_faults,
    assign_latency,
    gateway_label,
    parse_faults,
    parse_latency,
)
from xca.errors import ConfigError

__all__ = [
    "MAX_GATEWAYS",
    "SANDBOX_ROOT_OID",
    "GatewayPlan",
    "SandboxConfig",
    "plan_gateways",
    "sandbox_root",
]

MAX_GATEWAYS: Final = 200
# A UUID-derived OID arc (2.25, ITU-T X.667) generated for the sandbox: valid, and nobody's real community.
SANDBOX_ROOT_OID: Final = "2.25.262734160923853815386318153206537512305"


def sandbox_root(seed: int) -> str:
    """The arc under which a sandbox of ``seed`` names its communities (and so its patients and documents).

    One arc per seed: two sandboxes with different seeds never share a community or document id, so a
    gateway that pulled from one never mistakes the other's documents for ones it already holds.
    """
    return f"{SANDBOX_ROOT_OID}.{seed}"


@dataclass(frozen=True)
class SandboxConfig:
    """Everything ``hiegate sandbox`` takes.

    ``latency`` and ``faults`` are the spec strings of :mod:`gateway.sandbox.specs`. ``documents`` is the
    range of C-CDA documents per registration of a person; ``pdf`` adds one PDF to each. ``background`` is
    the number of document-less patients every gateway holds besides the persons and decoys. ``base_port``
    0 binds free ports; otherwise gateway *i* listens on ``base_port + i``. ``threads`` sizes the worker
    thread pool all gateways share (their handlers are synchronous). ``certs_dir`` is the dev PKI (created
    when missing); ``folder`` receives ``directory.json``, ``patients.json``, ``decoys.json``, the sandbox
    database and the gateways' certificates.
    """

    gateways: int = 5
    patients: int = 10
    seed: int = 1
    latency: str | None = None
    faults: str | None = None
    folder: Path = Path("var/sandbox")
    certs_dir: Path = Path("var/certs")
    key_password: str | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    base_port: int = 0
    documents: tuple[int, int] = (2, 4)
    pdf: bool = False
    background: int = 2
    threads: int = 4
    drip_bytes_per_second: int = 16

    def __post_init__(self) -> None:
        if not 1 <= self.gateways <= MAX_GATEWAYS:
            raise ConfigError(f"--gateways must be 1 to {MAX_GATEWAYS}", detail={"setting": "gateways"})
        if not 0 <= self.patients <= 10_000:
            raise ConfigError("--patients must be 0 to 10000", detail={"setting": "patients"})
        if not 1 <= self.documents[0] <= self.documents[1] <= 50:
            raise ConfigError("documents per registration must be 1 <= low <= high <= 50",
                              detail={"setting": "documents"})  # fmt: skip
        if self.base_port and self.base_port < 1024:
            raise ConfigError(
                "--port must be 1024 or above (ports below 1024 need administrator rights), or 0 for "
                "free ports",
                detail={"setting": "port"},
            )
        if self.base_port + self.gateways - 1 > 65535:  # gateway i listens on base_port + i
            raise ConfigError(
                f"--port must be at most {65536 - self.gateways} with {self.gateways} gateways "
                "(gateway i listens on PORT+i, the last below 65536)",
                detail={"setting": "port"},
            )
        if self.seed < 0:
            # The seed is an OID arc of every id the sandbox makes (see sandbox_root).
            raise ConfigError("--seed must be 0 or more", detail={"setting": "seed"})
        if not 1 <= self.threads <= 256:
            raise ConfigError("threads must be 1 to 256", detail={"setting": "threads"})


@dataclass(frozen=True)
class GatewayPlan:
    """One simulated community."""

    index: int
    home_community_id: str
    organization_name: str
    place: Place
    fault: FaultMode | None
    latency: LatencySpec | None

    @property
    def label(self) -> str:
        return gateway_label(self.index)

    @property
    def tenant(self) -> str:
        return f"sandbox-{self.label}"

    @property
    def assigning_authority(self) -> str:
        return f"{self.home_community_id}.2"

    @property
    def repository_unique_id(self) -> str:
        return f"{self.home_community_id}.3"

    @property
    def healthy(self) -> bool:
        """Answers every transaction completely (latency alone does not make a gateway unhealthy)."""
        return self.fault is None

    @property
    def telecom(self) -> str:
        return f"tel:+1-{METROS[self.place.metro].area_code}-555-{1000 + self.index:04d}"


def plan_gateways(config: SandboxConfig) -> list[GatewayPlan]:
    """The gateways of ``config``: communities under :func:`sandbox_root` of its seed, metros round-robin."""
    rng = random.Random(f"gateways:{config.seed}")  # noqa: S311 - reproducible synthetic data
    faults = assign_faults(parse_faults(config.faults), config.gateways, config.seed)
    default, targeted = parse_latency(config.latency)
    latency = assign_latency(default, targeted, config.gateways, config.seed)
    plans: list[GatewayPlan] = []
    names: set[str] = set()
    root = sandbox_root(config.seed)
    for index in range(config.gateways):
        place = place_for(index % len(METROS), rng)
        name = organization_name(index, place, rng)
        while name in names:
            name = f"{name} {index}"
        names.add(name)
        plans.append(
            GatewayPlan(
                index=index,
                home_community_id=f"{root}.{index + 1}",
                organization_name=name,
                place=place,
                fault=faults.get(index),
                latency=latency.get(index),
            )
        )
    return plans
