"""Parsing and assigning ``--latency`` and ``--faults``; the population's guarantees."""

from __future__ import annotations

import random

import pytest

from gateway.matching import Match, MatchConfig, NoMatch, decide, normalize_demographics
from gateway.matching.decision import Candidate
from gateway.sandbox.population import plan_population, query_demographics
from gateway.sandbox.specs import (
    FaultMode,
    LatencySpec,
    assign_faults,
    assign_latency,
    parse_duration,
    parse_faults,
    parse_latency,
)
from xca.errors import ConfigError


def test_durations() -> None:
    assert parse_duration("150ms") == pytest.approx(0.15)
    assert parse_duration("2s") == 2
    assert parse_duration("1.5s") == 1.5
    assert parse_duration("40") == pytest.approx(0.04)
    with pytest.raises(ConfigError):
        parse_duration("soon")


def test_latency_specs_parse_and_sample() -> None:
    default, targeted = parse_latency("lognormal:median=150ms,sigma=0.5; fixed:2s@gw3+gw7; uniform:1s-3s@10%")
    assert default == LatencySpec("lognormal", 0.15, 0.5)
    assert targeted[0][0] == LatencySpec("fixed", 2.0)
    assert targeted[0][1].indices == (3, 7)
    assert targeted[1][1].share == pytest.approx(0.1)
    rng = random.Random(1)
    samples = sorted(default.sample(rng) for _ in range(2001))
    assert samples[1000] == pytest.approx(0.15, rel=0.1)  # the median
    assert all(1 <= LatencySpec("uniform", 1, 3).sample(rng) <= 3 for _ in range(100))
    assert str(default) == "lognormal:median=150ms,sigma=0.5"
    with pytest.raises(ConfigError):
        parse_latency("fixed:1s; fixed:2s")
    with pytest.raises(ConfigError):
        parse_latency("gaussian:1s")


def test_fault_specs_assign_explicit_gateways_then_shares() -> None:
    entries = parse_faults("timeout:10%,http500:5%,soapfault:gw3,partial:20%,reset:7")
    assert [mode for mode, _ in entries] == [
        FaultMode.TIMEOUT, FaultMode.HTTP_500, FaultMode.SOAP_FAULT, FaultMode.PARTIAL_RETRIEVE,
        FaultMode.CONNECTION_RESET,
    ]  # fmt: skip
    assigned = assign_faults(entries, 40, seed=5)
    assert assigned[3] is FaultMode.SOAP_FAULT
    assert assigned[7] is FaultMode.CONNECTION_RESET
    counts = {mode: sum(1 for m in assigned.values() if m is mode) for mode in FaultMode}
    assert counts[FaultMode.TIMEOUT] == 4
    assert counts[FaultMode.HTTP_500] == 2
    assert counts[FaultMode.PARTIAL_RETRIEVE] == 8
    assert 0 not in assigned  # shares never take the first gateway
    assert assign_faults(entries, 40, seed=5) == assigned  # seeded
    assert assign_latency(LatencySpec("fixed", 0.1), [], 3, seed=1) == {
        i: LatencySpec("fixed", 0.1) for i in range(3)
    }
    for bad in ("explode:gw1", "timeout", "timeout:gw99", "timeout:gw1,http500:gw1", "timeout:70%+40%"):
        with pytest.raises(ConfigError):
            assign_faults(parse_faults(bad), 10, seed=1)


def test_every_registration_matches_its_person_and_decoys_never_do() -> None:
    population = plan_population(persons=12, gateway_metros=[0, 1, 2, 0, 1, 2, 3], seed=11)
    config = MatchConfig()
    people = {p.label: p for p in population.persons} | {d.label: d for d, _, _ in population.decoys}
    varied = {v for r in population.registrations for v in r.variations}
    assert {"nickname", "family-typo", "address-moved"} <= varied
    for gateway, registrations in population.by_gateway.items():
        candidates = [Candidate(r.owner, normalize_demographics(r.demographics)) for r in registrations]
        owners = {r.owner for r in registrations}
        for label, person in people.items():
            result = decide(normalize_demographics(query_demographics(person)), candidates, config)
            if label in owners:
                assert isinstance(result, Match), (gateway, label)
                assert result.ref == label, (gateway, label)
            else:
                assert isinstance(result, NoMatch), (gateway, label)
    kinds = {kind for _, kind, _ in population.decoys}
    assert kinds == {"twin", "namesake"}


def test_sandbox_ids_are_distinct_per_seed_and_valid_oids() -> None:
    from gateway.demo import DEMO_SEED
    from gateway.sandbox import SANDBOX_ROOT_OID, SandboxConfig, sandbox_root
    from gateway.sandbox.plan import plan_gateways

    default_seed = SandboxConfig().seed
    assert default_seed != DEMO_SEED
    ids = {
        seed: {p.home_community_id for p in plan_gateways(SandboxConfig(gateways=12, seed=seed))}
        for seed in (default_seed, DEMO_SEED, 0, 11)
    }
    for seed, communities in ids.items():
        assert len(communities) == 12
        for hcid in communities:
            assert hcid.startswith(f"{sandbox_root(seed)}.")
            assert hcid.startswith(f"{SANDBOX_ROOT_OID}.")
            assert all(arc.isdigit() and (arc == "0" or not arc.startswith("0")) for arc in hcid.split("."))
    # Nor do repository or document ids (which extend the community's) meet across seeds.
    assert not ids[1] & ids[11]
    assert not ids[default_seed] & ids[DEMO_SEED]
    assert not {f"{h}.9" for h in ids[1]} & {f"{h}.9" for h in ids[11]}
    with pytest.raises(ConfigError):
        SandboxConfig(seed=-1)
