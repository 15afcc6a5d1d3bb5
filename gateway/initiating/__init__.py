"""The initiating side's main job, the patient-record pull: find a patient across the network (ITI-55), list
(ITI-38) and fetch (ITI-39) every available document, convert and consolidate them, and report every
gateway's outcome, as a resumable job.

:class:`PullService` wires everything (``PullService.from_settings``); :meth:`PullService.pull` runs a
:class:`PullRequest` and returns a :class:`PullSummary`; progress arrives as :class:`ProgressEvent` values to
listeners. The pieces: :class:`GatewayTransport` (one httpx client per gateway, limits, timeouts, retries,
circuit breakers), :class:`Exchanger` (build, sign, send, check, parse), :func:`evaluate_matches`,
:class:`JobStore` (each step one transaction with its audit record) and :class:`PullWorker`.
"""

from gateway.initiating.breaker import BreakerPolicy, BreakerState, CircuitBreaker, CircuitBreakers
from gateway.initiating.cpu import CpuMeter
from gateway.initiating.evaluate import MatchDecision, RejectCode, evaluate_matches
from gateway.initiating.events import EventBus, EventKind, Listener, ProgressEvent
from gateway.initiating.exchange import Caller, Exchanger, ExchangeRecord, ExchangeResult, Target
from gateway.initiating.jobs import JobStore
from gateway.initiating.models import (
    ACTIVE_STATES,
    DocumentState,
    GatewayOutcome,
    GatewayReport,
    GatewayStage,
    JobCounters,
    JobListing,
    JobState,
    PullRequest,
    PullSummary,
)
from gateway.initiating.service import PullService, ServiceOptions, default_user
from gateway.initiating.settle import SettlePolicy
from gateway.initiating.transport import GatewayTransport, HttpAnswer, RetryPolicy
from gateway.initiating.worker import PullWorker, StepHook
from xca.errors import (
    CircuitOpenError,
    ExchangeError,
    GatewayConnectError,
    GatewayFaultError,
    GatewayHttpError,
    GatewayResponseError,
    GatewayTimeoutError,
    JobBusyError,
    JobCancelledError,
    JobError,
    JobFinishedError,
    PullError,
    UnknownJobError,
)

__all__ = [
    "ACTIVE_STATES",
    "BreakerPolicy",
    "BreakerState",
    "Caller",
    "CircuitBreaker",
    "CircuitBreakers",
    "CircuitOpenError",
    "CpuMeter",
    "DocumentState",
    "EventBus",
    "EventKind",
    "ExchangeError",
    "ExchangeRecord",
    "ExchangeResult",
    "Exchanger",
    "GatewayConnectError",
    "GatewayFaultError",
    "GatewayHttpError",
    "GatewayOutcome",
    "GatewayReport",
    "GatewayResponseError",
    "GatewayStage",
    "GatewayTimeoutError",
    "GatewayTransport",
    "HttpAnswer",
    "JobBusyError",
    "JobCancelledError",
    "JobCounters",
    "JobError",
    "JobFinishedError",
    "JobListing",
    "JobState",
    "JobStore",
    "Listener",
    "MatchDecision",
    "ProgressEvent",
    "PullError",
    "PullRequest",
    "PullService",
    "PullSummary",
    "PullWorker",
    "RejectCode",
    "RetryPolicy",
    "ServiceOptions",
    "SettlePolicy",
    "StepHook",
    "Target",
    "UnknownJobError",
    "default_user",
    "evaluate_matches",
]
