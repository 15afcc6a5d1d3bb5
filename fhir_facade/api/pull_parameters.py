"""The ``$pull`` operation's input: its ``Parameters`` body (``purposeOfUse``, ``period``, ``gateway``) read
strictly, and the gateways it names checked against the directory before a job is created."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from fhir_facade.api.errors import InvalidRequestError
from gateway.directory import Community, SelectionSpec, SelectionStrategy, select_gateways
from gateway.security.vocab import NhinPurpose, PurposeOfUse, TefcaPurpose
from xca.ids import is_oid

__all__ = ["PullParameters", "check_gateways", "parse_parameters"]

# FHIR's date form, ASCII digits only (fromisoformat alone would also take the basic form 20240101).
_FHIR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(T|$)", re.ASCII)


def _purpose(code: str) -> PurposeOfUse:
    try:
        return TefcaPurpose(code) if code.startswith("T-") else NhinPurpose(code)
    except ValueError:
        raise InvalidRequestError(
            f"purposeOfUse {code!r} is not a known NHIN or TEFCA purpose of use", expression=("purposeOfUse",)
        ) from None


def _date(value: object, where: str) -> dt.date:
    if not isinstance(value, str):
        raise InvalidRequestError(f"{where} must be a date string (YYYY-MM-DD)", expression=(where,))
    # fromisoformat alone would also take the basic form 20240101, which is not a FHIR date.
    if not _FHIR_DATE.match(value):
        raise InvalidRequestError(f"{where} is not a date (YYYY-MM-DD)", expression=(where,))
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise InvalidRequestError(f"{where} is not a date (YYYY-MM-DD)", expression=(where,)) from None


@dataclasses.dataclass(frozen=True)
class PullParameters:
    """``date_from`` is the first creation day asked, ``date_to`` the day after the last (the pull's and
    ITI-38's creationTimeTo are exclusive, a FHIR Period's end is not)."""

    purpose: PurposeOfUse
    date_from: dt.date | None
    date_to: dt.date | None
    gateways: tuple[str, ...]


def parse_parameters(body: dict[str, Any]) -> PullParameters:
    purpose: PurposeOfUse | None = None
    date_from = date_to = None
    gateways: list[str] = []
    parameters = body.get("parameter") or []
    if not isinstance(parameters, list):
        raise InvalidRequestError("parameter must be an array of parameters", expression=("parameter",))
    names = [p.get("name") for p in parameters if isinstance(p, dict)]
    for once in ("purposeOfUse", "period"):
        if names.count(once) > 1:
            raise InvalidRequestError(f"{once} may be given once", expression=(once,))
    for parameter in parameters:
        if not isinstance(parameter, dict):
            raise InvalidRequestError("a parameter must be an object", expression=("parameter",))
        name = parameter.get("name")
        if name == "purposeOfUse":
            coding = parameter.get("valueCoding")
            code = coding.get("code") if isinstance(coding, dict) else None
            code = code or parameter.get("valueCode") or parameter.get("valueString")
            if not isinstance(code, str) or not code:
                raise InvalidRequestError("purposeOfUse needs a code", expression=("purposeOfUse",))
            purpose = _purpose(code)
        elif name == "period":
            period = parameter.get("valuePeriod")
            if not isinstance(period, dict):
                raise InvalidRequestError("period needs a valuePeriod", expression=("period",))
            start, end = period.get("start"), period.get("end")
            date_from = _date(start, "period.start") if start is not None else None
            last = _date(end, "period.end") if end is not None else None
            if date_from and last and date_from > last:
                raise InvalidRequestError("period.start is after period.end", expression=("period",))
            # The period's end day is in it (FHIR R4 Period.end includes its whole day); the last day there
            # is (9999-12-31) bounds nothing.
            date_to = last + dt.timedelta(days=1) if last is not None and last < dt.date.max else None
        elif name == "gateway":
            ident = parameter.get("valueIdentifier")
            value = (
                ident.get("value")
                if isinstance(ident, dict)
                else next(
                    (parameter[k] for k in ("valueUri", "valueOid", "valueString") if k in parameter), None
                )
            )
            if not isinstance(value, str) or not value:
                raise InvalidRequestError(
                    "gateway needs a homeCommunityId (valueUri, valueOid, valueString or valueIdentifier)",
                    expression=("gateway",),
                )
            if not is_oid(value.removeprefix("urn:oid:")):
                raise InvalidRequestError(
                    f"gateway {value[:80]!r} is not an OID: give a homeCommunityId as urn:oid:1.2.3 or 1.2.3",
                    expression=("gateway",),
                )
            gateways.append(value.removeprefix("urn:oid:"))
        else:
            shown = repr(name[:80]) if isinstance(name, str) else "without a name"
            raise InvalidRequestError(f"unknown parameter {shown}", expression=("parameter",))
    if purpose is None:
        raise InvalidRequestError("purposeOfUse is required", expression=("purposeOfUse",))
    return PullParameters(purpose, date_from, date_to, tuple(dict.fromkeys(gateways)))


def check_gateways(communities: Sequence[Community], gateways: Sequence[str]) -> None:
    """Refuse (400) explicitly named gateways the pull would not ask: unknown to the directory, inactive, or
    without an endpoint. The reasons are :func:`~gateway.directory.select_gateways`' own, so the check
    agrees with the selection the job makes."""
    if not gateways:
        return
    spec = SelectionSpec(strategy=SelectionStrategy.EXPLICIT, communities=tuple(gateways))
    excluded = select_gateways(communities, spec).excluded
    refused = [f"gateway urn:oid:{hcid}: {excluded[hcid]}" for hcid in gateways if hcid in excluded]
    if refused:
        raise InvalidRequestError("; ".join(refused), expression=("gateway",))
