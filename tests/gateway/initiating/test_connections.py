"""Connections kept between pulls: inside ``PullService.connections()`` the runs of one event loop share a
transport, so a pull to gateways a recent pull talked to sends over the connections already open (seen from
the responding side: the same client ports, no new TLS handshake); without it each run opens and closes its
own, and its new connections resume the TLS sessions of the service's earlier pulls."""

from __future__ import annotations

import asyncio

import pytest

from gateway.initiating import BreakerPolicy, GatewayOutcome, PullSummary
from gateway.store import Database
from tests.gateway.initiating.conftest import (
    BROKEN,
    HEALTHY,
    NOBODY,
    SLOW,
    Network,
    import_directory,
    make_service,
    request_for,
)


def outcomes(summary: PullSummary) -> dict[str, GatewayOutcome | None]:
    return {g.home_community_id: g.outcome for g in summary.gateways}


def seen(network: Network) -> dict[str, set[tuple[str, int]]]:
    return {home: set(node.connections) for home, node in network.nodes.items()}


def test_pulls_inside_connections_reuse_the_open_connections(network: Network, database: Database) -> None:
    import_directory(network, database)
    service = make_service(network, database, breaker=BreakerPolicy(failure_threshold=10, recovery_seconds=1))

    async def two_pulls() -> tuple[PullSummary, PullSummary, dict[str, set[tuple[str, int]]]]:
        async with service.connections():
            first = await service.pull(request_for(network))
            after_first = seen(network)
            second = await service.pull(request_for(network))
        return first, second, after_first

    first, second, after_first = asyncio.run(two_pulls())
    assert outcomes(first) == outcomes(second)
    assert outcomes(second)[HEALTHY] is GatewayOutcome.OK
    assert all(after_first[home] for home in (HEALTHY, NOBODY, BROKEN, SLOW))
    after_second = seen(network)
    # The healthy gateway's ITI-38 and ITI-39, the no-match gateway's ITI-55 and the broken gateway's HTTP
    # 500s (a complete answer: the connection stays usable) all went over connections the first pull opened.
    for home in (HEALTHY, NOBODY, BROKEN):
        assert after_second[home] == after_first[home], home
    # The slow gateway's request was abandoned at its timeout, and its connection with it: a new one.
    assert after_second[SLOW] - after_first[SLOW]


def test_runs_outside_connections_open_and_close_their_own(network: Network, database: Database) -> None:
    import_directory(network, database)
    service = make_service(network, database, breaker=BreakerPolicy(failure_threshold=10, recovery_seconds=1))
    asyncio.run(service.pull(request_for(network)))
    after_first = seen(network)
    resumed_before = service.ssl_context.session_stats()["hits"]
    second = asyncio.run(service.pull(request_for(network)))  # another loop: the first run's pools are closed
    assert outcomes(second)[HEALTHY] is GatewayOutcome.OK
    after_second = seen(network)
    for home in (HEALTHY, NOBODY):
        assert after_second[home] - after_first[home], home
    # The new connections resumed the TLS sessions the service kept from the first pull (an abbreviated
    # handshake: no certificates, no signatures), one per gateway that answered it over TLS.
    assert service.ssl_context.session_stats()["hits"] - resumed_before >= 3


def test_connections_is_not_reentrant(network: Network, database: Database) -> None:
    service = make_service(network, database)

    async def nested() -> None:
        async with service.connections():
            with pytest.raises(RuntimeError, match="already keeps its connections"):
                async with service.connections():
                    pass

    asyncio.run(nested())
