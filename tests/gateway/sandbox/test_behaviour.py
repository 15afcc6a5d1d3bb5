"""The connection-reset fault on a connection that is already gone: nothing to reset, and no error."""

from __future__ import annotations

import asyncio
import socket
import struct
from asyncio.sslproto import _SSLProtocolTransport
from typing import Any
from unittest import mock

from gateway.responding import RespondingConfig
from gateway.sandbox.behaviour import TRANSPORT_EXTENSION, GatewayBehaviour, SandboxControl
from gateway.sandbox.specs import FaultMode

HOME = "1.3.6.1.4.1.99999.90"


async def _never_called(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the reset fault never reaches the gateway's app")


def _behaviour() -> GatewayBehaviour:
    config = RespondingConfig(
        home_community_id=HOME,
        tenant="sandbox",
        organization_name="Reset Clinic",
        assigning_authority=f"{HOME}.2",
        repository_unique_id=f"{HOME}.3",
        public_base_url="https://127.0.0.1:1",
    )
    return GatewayBehaviour(
        _never_called, config=config, control=SandboxControl(), fault=FaultMode.CONNECTION_RESET
    )


async def _request(behaviour: GatewayBehaviour, transport: asyncio.Transport) -> list[Any]:
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"<Envelope/>", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/xcpd", "extensions": {TRANSPORT_EXTENSION: transport}}
    await behaviour(scope, receive, send)
    return sent


def test_reset_of_a_tls_connection_closed_twice_does_nothing() -> None:
    # asyncio's TLS transport drops its protocol when closed a second time; asking it anything then raised
    # AttributeError ('NoneType' object has no attribute '_get_extra_info') from the sandbox's middleware.
    transport = _SSLProtocolTransport(mock.Mock(), mock.Mock())
    transport.close()
    transport.close()

    assert asyncio.run(_request(_behaviour(), transport)) == []


def test_reset_of_an_open_connection_still_aborts_it_with_linger_zero() -> None:
    left, right = socket.socketpair()
    with left, right:
        protocol = mock.Mock()
        protocol._get_extra_info.side_effect = lambda name, default=None: {"socket": left}.get(name, default)
        transport = _SSLProtocolTransport(mock.Mock(), protocol)

        assert asyncio.run(_request(_behaviour(), transport)) == []

        protocol._abort.assert_called_once()
        linger = left.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.calcsize("ii"))
        assert struct.unpack("ii", linger) == (1, 0)
