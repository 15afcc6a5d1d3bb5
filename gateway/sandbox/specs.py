"""The sandbox's ``--latency`` and ``--faults`` specifications: parsing, sampling, and assignment to gateways.

Latency (``;``-separated entries, each ``DIST[@TARGETS]``; an entry without targets is the default)::

    fixed:200ms
    uniform:50ms-400ms
    lognormal:median=150ms,sigma=0.5
    lognormal:median=150ms,sigma=0.5; fixed:2s@gw3+gw7; uniform:1s-3s@10%

Faults (``,``-separated entries, each ``MODE:TARGETS``)::

    timeout:10%,http500:5%,soapfault:gw3,partial-retrieve:20%

TARGETS are ``+``-separated gateway labels (``gw3``), bare indices (``3``) or shares (``10%``: that share of
the gateways, rounded, at least one). Explicit gateways are assigned first, then shares in the order given,
drawn with the sandbox seed from the gateways still unassigned; ``gw0`` is never drawn by a share (so a
sandbox always has a healthy first gateway unless one is named explicitly). Durations are ``150ms``,
``2s``, ``1.5s`` or a bare number of milliseconds.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, TypeVar

from xca.errors import ConfigError

__all__ = [
    "FaultMode",
    "LatencySpec",
    "Targets",
    "assign_faults",
    "assign_latency",
    "gateway_label",
    "parse_duration",
    "parse_faults",
    "parse_latency",
]


class FaultMode(StrEnum):
    """How a sandbox gateway misbehaves (see :mod:`gateway.sandbox.behaviour` for each)."""

    TIMEOUT = "timeout"
    SLOW_DRIP = "slow-drip"
    HTTP_500 = "http500"
    SOAP_FAULT = "soapfault"
    REGISTRY_ERROR = "registry-error"
    MALFORMED_XML = "malformed-xml"
    CONNECTION_RESET = "connection-reset"
    TLS_WRONG_CERT = "tls-wrong-cert"
    TLS_EXPIRED_CERT = "tls-expired-cert"
    NO_MATCH = "no-match"
    PARTIAL_RETRIEVE = "partial-retrieve"

    @property
    def is_tls(self) -> bool:
        return self in (FaultMode.TLS_WRONG_CERT, FaultMode.TLS_EXPIRED_CERT)


_ALIASES: Final = {
    "slowdrip": FaultMode.SLOW_DRIP,
    "drip": FaultMode.SLOW_DRIP,
    "500": FaultMode.HTTP_500,
    "http-500": FaultMode.HTTP_500,
    "soap-fault": FaultMode.SOAP_FAULT,
    "registry": FaultMode.REGISTRY_ERROR,
    "registryerror": FaultMode.REGISTRY_ERROR,
    "malformed": FaultMode.MALFORMED_XML,
    "reset": FaultMode.CONNECTION_RESET,
    "wrong-cert": FaultMode.TLS_WRONG_CERT,
    "expired-cert": FaultMode.TLS_EXPIRED_CERT,
    "tls-expired": FaultMode.TLS_EXPIRED_CERT,
    "tls-wrong": FaultMode.TLS_WRONG_CERT,
    "nomatch": FaultMode.NO_MATCH,
    "partial": FaultMode.PARTIAL_RETRIEVE,
}

T = TypeVar("T")

_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")
_LABEL: Final = re.compile(r"^(?:gw)?(\d+)$")
_SHARE: Final = re.compile(r"^(\d+(?:\.\d+)?)%$")


def gateway_label(index: int) -> str:
    """``gw0``, ``gw1``, ...: the label of the gateway at ``index``."""
    return f"gw{index}"


def _error(message: str, setting: str) -> ConfigError:
    return ConfigError(message, detail={"setting": setting})


def parse_duration(text: str, *, setting: str = "latency") -> float:
    """Seconds from ``150ms``, ``2s``, ``1.5s`` or a bare number of milliseconds."""
    match = _DURATION.match(text)
    if match is None:
        raise _error(f"--{setting}: {text.strip()!r} is not a duration such as 150ms or 2s", setting)
    value = float(match.group(1))
    return value if match.group(2) == "s" else value / 1000


@dataclass(frozen=True)
class LatencySpec:
    """A per-request delay distribution: ``fixed``, ``uniform`` (low..high) or ``lognormal``."""

    kind: str
    a: float
    b: float = 0.0

    def sample(self, rng: random.Random) -> float:
        """One delay in seconds."""
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        return rng.lognormvariate(math.log(self.a), self.b)

    def __str__(self) -> str:
        def ms(seconds: float) -> str:
            return f"{seconds * 1000:g}ms"

        if self.kind == "fixed":
            return f"fixed:{ms(self.a)}"
        if self.kind == "uniform":
            return f"uniform:{ms(self.a)}-{ms(self.b)}"
        return f"lognormal:median={ms(self.a)},sigma={self.b:g}"


def _parse_distribution(text: str) -> LatencySpec:
    kind, _, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    if kind == "fixed" and rest:
        return LatencySpec("fixed", parse_duration(rest))
    if kind == "uniform" and "-" in rest:
        low_text, high_text = rest.split("-", 1)
        low, high = parse_duration(low_text), parse_duration(high_text)
        if high < low:
            raise _error("--latency: uniform needs LOW-HIGH with LOW <= HIGH", "latency")
        return LatencySpec("uniform", low, high)
    if kind == "lognormal" and rest:
        params = dict(part.split("=", 1) for part in rest.split(",") if "=" in part)
        if "median" not in params:
            raise _error("--latency: lognormal needs median=DURATION[,sigma=S]", "latency")
        try:
            sigma = float(params.get("sigma", "0.5"))
        except ValueError:
            raise _error("--latency: lognormal sigma must be a number", "latency") from None
        if sigma < 0:
            raise _error("--latency: lognormal sigma must not be negative", "latency")
        return LatencySpec("lognormal", parse_duration(params["median"]), sigma)
    raise _error(
        f"--latency: {text.strip()!r} is not fixed:D, uniform:D-D or lognormal:median=D,sigma=S", "latency"
    )


@dataclass(frozen=True)
class Targets:
    """Which gateways an entry applies to: explicit indices and/or a share of all gateways."""

    indices: tuple[int, ...] = ()
    share: float = 0.0


def _parse_targets(text: str, setting: str) -> Targets:
    indices: list[int] = []
    share = 0.0
    for part in (p.strip().lower() for p in text.split("+")):
        label, percent = _LABEL.match(part), _SHARE.match(part)
        if label is not None:
            indices.append(int(label.group(1)))
        elif percent is not None:
            share += float(percent.group(1)) / 100
        else:
            raise _error(f"--{setting}: {part!r} is neither a gateway (gw3, 3) nor a share (10%)", setting)
    if share > 1:
        raise _error(f"--{setting}: shares add up to more than 100%", setting)
    return Targets(tuple(indices), share)


def parse_latency(text: str | None) -> tuple[LatencySpec | None, list[tuple[LatencySpec, Targets]]]:
    """The default distribution (or None) and the targeted ones, in the order given."""
    default: LatencySpec | None = None
    targeted: list[tuple[LatencySpec, Targets]] = []
    for entry in (e.strip() for e in (text or "").split(";")):
        if not entry:
            continue
        dist_text, at, target_text = entry.partition("@")
        dist = _parse_distribution(dist_text)
        if at:
            targeted.append((dist, _parse_targets(target_text, "latency")))
        elif default is not None:
            raise _error("--latency: only one entry may go without @TARGETS", "latency")
        else:
            default = dist
    return default, targeted


def parse_faults(text: str | None) -> list[tuple[FaultMode, Targets]]:
    """The ``MODE:TARGETS`` entries, in the order given."""
    found: list[tuple[FaultMode, Targets]] = []
    for entry in (e.strip() for e in (text or "").split(",")):
        if not entry:
            continue
        name, colon, target_text = entry.partition(":")
        key = name.strip().lower().replace("_", "-")
        mode = _ALIASES.get(key.replace("-", "")) or _ALIASES.get(key)
        if mode is None:
            try:
                mode = FaultMode(key)
            except ValueError:
                known = ", ".join(m.value for m in FaultMode)
                raise _error(f"--faults: unknown fault {name.strip()!r} (known: {known})", "faults") from None
        if not colon or not target_text.strip():
            raise _error(
                f"--faults: {entry!r} needs targets, e.g. {mode.value}:10% or {mode.value}:gw3", "faults"
            )
        found.append((mode, _parse_targets(target_text, "faults")))
    return found


def _assign(
    entries: Sequence[tuple[T, Targets]], gateways: int, rng: random.Random, setting: str
) -> dict[int, T]:
    assigned: dict[int, T] = {}
    for value, targets in entries:
        for index in targets.indices:
            if not 0 <= index < gateways:
                raise _error(f"--{setting}: there is no gateway {gateway_label(index)}", setting)
            if index in assigned and assigned[index] != value:
                raise _error(f"--{setting}: {gateway_label(index)} is named twice", setting)
            assigned[index] = value
    for value, targets in entries:
        if targets.share <= 0:
            continue
        pool = [i for i in range(gateways) if i not in assigned and (i != 0 or gateways == 1)]
        count = min(len(pool), max(1, round(targets.share * gateways)))
        for index in sorted(rng.sample(pool, count)):
            assigned[index] = value
    return assigned


def assign_faults(
    entries: Sequence[tuple[FaultMode, Targets]], gateways: int, seed: int
) -> dict[int, FaultMode]:
    """Gateway index → fault mode (gateways not listed are healthy)."""
    return _assign(entries, gateways, random.Random(f"faults:{seed}"), "faults")  # noqa: S311


def assign_latency(
    default: LatencySpec | None, entries: Sequence[tuple[LatencySpec, Targets]], gateways: int, seed: int
) -> dict[int, LatencySpec]:
    """Gateway index → latency distribution (gateways not listed answer without added delay)."""
    assigned = _assign(entries, gateways, random.Random(f"latency:{seed}"), "latency")  # noqa: S311
    if default is not None:
        for index in range(gateways):
            assigned.setdefault(index, default)
    return assigned
