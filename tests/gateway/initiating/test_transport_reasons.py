"""Why a connection failed, in words: a host name that does not resolve is named as such, not as an errno."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from collections.abc import Callable
from typing import Any

import httpcore
import httpx
import pytest

from gateway.directory import PartnerSettings
from gateway.initiating import BreakerPolicy, RetryPolicy
from gateway.initiating.breaker import CircuitBreakers
from gateway.initiating.transport import GatewayTransport, _os_reason
from gateway.security import SecuredMessage
from xca.errors import GatewayConnectError
from xca.soap import CONTENT_TYPE

UNKNOWN = "gateway.hiegate-test.invalid"  # RFC 6761: names under .invalid never resolve


def _connect_error(cause: BaseException) -> httpx.ConnectError:
    """What httpx raises: its ConnectError from httpcore's, from the OS error."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise httpcore.ConnectError(str(exc)) from exc
    except httpcore.ConnectError as exc:
        try:
            raise httpx.ConnectError(str(exc)) from exc
        except httpx.ConnectError as outer:
            return outer


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
         ": host name not found (Name or service not known)"),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
         ": host name lookup failed (Temporary failure in name resolution)"),
        (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)"), ": connection refused"),
        (RuntimeError("no errno"), ""),
    ],
)  # fmt: skip
def test_os_reason_words(cause: BaseException, reason: str) -> None:
    assert _os_reason(_connect_error(cause)) == reason


def _failed_exchange(host: str, *, max_attempts: int, retry_while: Callable[[], bool] | None = None) -> Any:
    """The :class:`GatewayConnectError` of an ITI-55 exchange with ``host`` that cannot connect."""
    message = SecuredMessage(
        data=b"<Envelope/>",
        assertion_id="_a",
        message_id="urn:uuid:m",
        expires=dt.datetime.now(dt.UTC),
    )

    async def exchange() -> object:
        transport = GatewayTransport(
            ssl.create_default_context(),
            breakers=CircuitBreakers(BreakerPolicy(failure_threshold=10)),
            retry=RetryPolicy(base_seconds=0.001, cap_seconds=0.01),
        )
        try:
            return await transport.exchange(
                home_community_id="1.2.3.4.5",
                origin=f"https://{host}",
                url=f"https://{host}/xcpd",
                settings=PartnerSettings(
                    max_attempts=max_attempts, connect_timeout=5, read_timeout=5, total_timeout=10
                ),
                sign=lambda: message,
                content_type=CONTENT_TYPE,
                what="ITI-55",
                retry_while=retry_while,
            )
        finally:
            await transport.aclose()

    with pytest.raises(GatewayConnectError) as caught:
        asyncio.run(exchange())
    return caught.value


def test_an_unknown_host_is_named_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        # What a resolver answers for a name under .invalid, without asking the network.
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    error = _failed_exchange(UNKNOWN, max_attempts=1)
    assert error.message == (
        "connection failed: host name not found (Name or service not known) (ConnectError)"
    )


@pytest.mark.parametrize("allowed", [True, False], ids=["retried", "overdue"])
def test_a_failed_attempt_is_retried_only_while_the_caller_allows(allowed: bool) -> None:
    # The discard port: nobody listens on 127.0.0.1:9, every connection is refused.
    error = _failed_exchange("127.0.0.1:9", max_attempts=3, retry_while=lambda: allowed)
    assert error.detail["attempts"] == (3 if allowed else 1)
    overdue = "; not retried: overdue against this pull's answers"
    assert error.message.endswith(overdue) is not allowed
    assert error.message.startswith("connection failed: connection refused (ConnectError)")
