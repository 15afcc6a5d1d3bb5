"""One exchange per call: build the request (:mod:`xca`), secure it (:mod:`gateway.security`), send it through
the :class:`~gateway.initiating.transport.GatewayTransport`, check and parse the answer.

Each call returns a result value, never raises for the remote side's failures: ``error`` is the
:class:`~xca.errors.ExchangeError` when the exchange failed, ``record`` what the audit needs
(``None`` only when nothing was sent, e.g. an open circuit). Answers are checked: a SOAP Fault becomes
:class:`GatewayFaultError`, a ``wsa:RelatesTo`` naming another message :class:`GatewayResponseError`, and
unreadable bytes (the hardened parser refuses them) :class:`GatewayResponseError` naming the parser's code.

CPU is measured per exchange into a :class:`~gateway.initiating.cpu.CpuMeter`: the whole exchange (every
step of its coroutine: building, signing, TLS, HTTP, checking, parsing), the benchmark's "gateway CPU per
exchange", and within it the building, signing, checking and parsing alone.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from lxml import etree

from gateway.audit import Transaction
from gateway.directory import Endpoints, PartnerSettings
from gateway.initiating.cpu import CpuMeter
from gateway.initiating.transport import GatewayTransport, HttpAnswer
from gateway.security import OutboundSecurity, RequestingUser, SecuredMessage, secure_request
from xca import iti38, iti39, iti55
from xca.errors import (
    ExchangeError,
    GatewayFaultError,
    GatewayHttpError,
    GatewayResponseError,
    HieGatewayError,
)
from xca.ids import Cx
from xca.soap import CONTENT_TYPE, Action, Addressing, Envelope, parse_envelope

__all__ = [
    "Caller",
    "ExchangeRecord",
    "ExchangeResult",
    "Exchanger",
    "Target",
]

T = TypeVar("T")
P = ParamSpec("P")


def _metered(
    method: Callable[Concatenate[Exchanger, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Exchanger, P], Awaitable[T]]:
    """The exchange's every step is charged to the exchanger's :class:`CpuMeter` (``exchange_ns``)."""

    @functools.wraps(method)
    async def metered(self: Exchanger, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.cpu.run(method(self, *args, **kwargs))

    return metered


@dataclass(frozen=True)
class Caller:
    """This gateway as an initiating gateway: its community and its message security."""

    home_community_id: str
    security: OutboundSecurity

    @property
    def device(self) -> iti55.Device:
        return iti55.Device(f"{self.home_community_id}.1", self.home_community_id)


@dataclass(frozen=True)
class Target:
    """A remote community to call: its id, name, the gateway endpoints and the partner settings."""

    home_community_id: str
    name: str
    endpoints: Endpoints
    settings: PartnerSettings

    @property
    def origin(self) -> str:
        return self.endpoints.origin or ""


@dataclass(frozen=True)
class ExchangeRecord:
    """What one exchange was, for the audit log and the job's per-gateway latency."""

    transaction: Transaction
    endpoint: str
    message_id: str | None
    assertion_id: str | None
    relates_to: str | None = None
    attempts: int = 1
    latency_ms: int = 0
    request_bytes: int | None = None
    response_bytes: int | None = None
    occurred_at: dt.datetime | None = None


@dataclass(frozen=True)
class ExchangeResult(Generic[T]):
    """``response`` when the exchange produced a usable answer, else ``error``."""

    response: T | None
    record: ExchangeRecord | None
    error: ExchangeError | None = None
    detail: dict[str, object] = field(default_factory=dict)


def _same_id(a: str | None, b: str | None) -> bool:
    def bare(value: str) -> str:
        return value.strip().lower().removeprefix("urn:uuid:")

    return a is not None and b is not None and bare(a) == bare(b)


class Exchanger:
    """Runs ITI-55, ITI-38 and ITI-39 exchanges for one worker."""

    def __init__(
        self,
        transport: GatewayTransport,
        caller: Caller,
        *,
        cpu: CpuMeter | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.transport = transport
        self.caller = caller
        self.cpu = cpu or CpuMeter()
        self._clock = clock

    async def _send(
        self,
        target: Target,
        transaction: Transaction,
        url: str,
        build: Callable[[], etree._Element],
        action: Action,
        user: RequestingUser,
        resource_id: Cx | None,
        retry_while: Callable[[], bool] | None,
    ) -> tuple[HttpAnswer | None, ExchangeRecord | None, ExchangeError | None]:
        sent: list[SecuredMessage] = []

        def sign() -> SecuredMessage:
            def work() -> SecuredMessage:
                return secure_request(
                    build(),
                    Addressing.request(action, to=url),
                    security=self.caller.security,
                    user=user,
                    options=target.settings.security,
                    resource_id=resource_id,
                )

            message = self.cpu.measure(work)
            self.cpu.messages += 1
            sent.append(message)
            return message

        occurred = self._clock()
        try:
            answer = await self.transport.exchange(
                home_community_id=target.home_community_id,
                origin=target.origin,
                url=url,
                settings=target.settings,
                sign=sign,
                content_type=CONTENT_TYPE,
                what=transaction.value,
                retry_while=retry_while,
            )
        except ExchangeError as exc:
            self.cpu.exchanges += 1 if sent else 0
            if not sent:
                return None, None, exc
            last = sent[-1]
            attempts = exc.detail.get("attempts")
            latency = exc.detail.get("latency_ms")
            record = ExchangeRecord(
                transaction=transaction,
                endpoint=url,
                message_id=last.message_id,
                assertion_id=last.assertion_id,
                attempts=attempts if isinstance(attempts, int) else len(sent),
                latency_ms=latency if isinstance(latency, int) else 0,
                request_bytes=len(last.data),
                occurred_at=occurred,
            )
            return None, record, exc
        self.cpu.exchanges += 1
        record = ExchangeRecord(
            transaction=transaction,
            endpoint=url,
            message_id=answer.message.message_id,
            assertion_id=answer.message.assertion_id,
            attempts=answer.attempts,
            latency_ms=answer.latency_ms,
            request_bytes=answer.request_bytes,
            response_bytes=len(answer.content),
            occurred_at=occurred,
        )
        return answer, record, None

    def _detail(self, target: Target, transaction: Transaction, **more: object) -> dict[str, object]:
        return {"home_community_id": target.home_community_id, "transaction": transaction.value, **more}

    def _envelope(self, target: Target, transaction: Transaction, answer: HttpAnswer) -> Envelope:
        """The answer's SOAP envelope, checked: HTTP errors, faults and foreign RelatesTo become errors."""
        try:
            envelope = parse_envelope(answer.content)
        except HieGatewayError as exc:
            if answer.status >= 400:
                raise GatewayHttpError(
                    f"HTTP {answer.status} without a SOAP answer",
                    detail=self._detail(target, transaction, status=answer.status),
                ) from exc
            raise GatewayResponseError(
                f"the answer is not a usable SOAP message ({exc.code})",
                detail=self._detail(target, transaction, cause=exc.code),
            ) from exc
        if envelope.fault is not None:
            raise _fault_error(envelope, self._detail(target, transaction, status=answer.status))
        if answer.status >= 400:
            raise GatewayHttpError(
                f"HTTP {answer.status}", detail=self._detail(target, transaction, status=answer.status)
            )
        if not _same_id(envelope.addressing.relates_to, answer.message.message_id):
            raise GatewayResponseError(
                "the answer relates to another message (wsa:RelatesTo)",
                detail=self._detail(target, transaction),
            )
        return envelope

    @_metered
    async def iti55(
        self,
        target: Target,
        user: RequestingUser,
        demographics: iti55.Demographics,
        local_id: Cx,
        *,
        retry_while: Callable[[], bool] | None = None,
    ) -> ExchangeResult[iti55.Iti55Response]:
        url = target.endpoints.iti55 or ""
        receiver = iti55.Device(f"{target.home_community_id}.1", target.home_community_id, url)

        def build() -> etree._Element:
            request = iti55.Iti55Request(
                message_id=iti55.Ii(str(uuid.uuid4())),
                creation_time=self._clock(),
                sender=self.caller.device,
                receiver=receiver,
                query=iti55.Iti55Query(
                    iti55.Ii(f"{self.caller.home_community_id}.9", uuid.uuid4().hex), demographics
                ),
            )
            return iti55.build_iti55_request(request)

        answer, record, error = await self._send(
            target, Transaction.ITI_55, url, build, Action.ITI55_REQUEST, user, local_id, retry_while
        )
        if answer is None:
            return ExchangeResult(None, record, error)
        try:
            response = self.cpu.measure(
                # The echoed query is not read: the request it repeats is ours.
                lambda: iti55.parse_iti55_response(
                    _body(self._envelope(target, Transaction.ITI_55, answer)), echo=False
                )
            )
        except ExchangeError as exc:
            return ExchangeResult(None, record, exc)
        except HieGatewayError as exc:
            return ExchangeResult(None, record, _unreadable(self._detail(target, Transaction.ITI_55), exc))
        return ExchangeResult(response, _relates(record, answer))

    @_metered
    async def iti38(
        self,
        target: Target,
        user: RequestingUser,
        patient: Cx,
        *,
        created_from: dt.date | None = None,
        created_to: dt.date | None = None,
        retry_while: Callable[[], bool] | None = None,
    ) -> ExchangeResult[iti38.QueryResponse]:
        url = target.endpoints.iti38 or ""
        days = target.settings.required_date_range_days
        if days is not None and created_from is None and created_to is None:
            today = self._clock().date()
            created_from, created_to = today - dt.timedelta(days=days), today + dt.timedelta(days=1)
        query = iti38.FindDocumentsQuery(
            patient_id=patient,
            creation_time_from=_dtm(created_from),
            creation_time_to=_dtm(created_to),
        )
        request = iti38.Iti38Request(query, home_community_id=target.home_community_id)
        answer, record, error = await self._send(
            target,
            Transaction.ITI_38,
            url,
            lambda: iti38.build_iti38_request(request),
            Action.ITI38_REQUEST,
            user,
            patient,
            retry_while,
        )
        if answer is None:
            return ExchangeResult(None, record, error)
        try:
            response = self.cpu.measure(
                lambda: iti38.parse_iti38_response(_body(self._envelope(target, Transaction.ITI_38, answer)))
            )
        except ExchangeError as exc:
            return ExchangeResult(None, record, exc)
        except HieGatewayError as exc:
            return ExchangeResult(None, record, _unreadable(self._detail(target, Transaction.ITI_38), exc))
        return ExchangeResult(response, _relates(record, answer))

    @_metered
    async def iti39(
        self,
        target: Target,
        user: RequestingUser,
        patient: Cx,
        documents: Sequence[iti39.DocumentRequest],
        *,
        retry_while: Callable[[], bool] | None = None,
    ) -> ExchangeResult[iti39.RetrieveResponse]:
        url = target.endpoints.iti39 or ""
        answer, record, error = await self._send(
            target,
            Transaction.ITI_39,
            url,
            lambda: iti39.build_iti39_request(documents),
            Action.ITI39_REQUEST,
            user,
            patient,
            retry_while,
        )
        if answer is None:
            return ExchangeResult(None, record, error)
        detail = self._detail(target, Transaction.ITI_39)
        try:
            response = self.cpu.measure(
                lambda: iti39.parse_iti39_response(answer.content, answer.content_type)
            )
        except HieGatewayError as exc:
            if answer.status >= 400:
                status_error = GatewayHttpError(
                    f"HTTP {answer.status}", detail={**detail, "status": answer.status}
                )
                return ExchangeResult(None, record, status_error)
            return ExchangeResult(None, record, _unreadable(detail, exc))
        if response.fault is not None:
            fault = response.fault
            error = GatewayFaultError(
                f"SOAP Fault {fault.code.value}: {fault.reason[:200]}",
                detail={**detail, "status": answer.status, "subcodes": list(fault.subcodes)},
            )
            return ExchangeResult(None, record, error)
        relates = response.addressing.relates_to if response.addressing else None
        if not _same_id(relates, answer.message.message_id):
            error = GatewayResponseError(
                "the answer relates to another message (wsa:RelatesTo)", detail=detail
            )
            return ExchangeResult(None, record, error)
        return ExchangeResult(response, _relates(record, answer, relates))


def _body(envelope: Envelope) -> etree._Element:
    if envelope.body is None:
        raise GatewayResponseError("the SOAP answer has an empty Body")
    return envelope.body


def _relates(record: ExchangeRecord | None, answer: HttpAnswer, relates: str | None = None) -> ExchangeRecord:
    assert record is not None
    from dataclasses import replace

    return replace(record, relates_to=relates or answer.message.message_id)


def _unreadable(detail: dict[str, object], exc: HieGatewayError) -> GatewayResponseError:
    error = GatewayResponseError(
        f"the answer cannot be read ({exc.code})", detail={**detail, "cause": exc.code}
    )
    error.__cause__ = exc
    return error


def _fault_error(envelope: Envelope, detail: dict[str, object]) -> GatewayFaultError:
    fault = envelope.fault
    assert fault is not None
    subcodes = [s.rpartition("}")[2] for s in fault.subcodes]
    return GatewayFaultError(
        f"SOAP Fault {fault.code.value}{' ' + '/'.join(subcodes) if subcodes else ''}: {fault.reason[:200]}",
        detail={**detail, "subcodes": subcodes},
    )


def _dtm(day: dt.date | None) -> iti38.Dtm | None:
    if day is None:
        return None
    return iti38.Dtm.of(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC), iti38.Precision.DAY)
