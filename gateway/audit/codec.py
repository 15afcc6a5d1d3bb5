"""Events to canonical JSON and back.

A record's content is the event as a JSON object: dataclass fields by name, enums by value, datetimes as
ISO 8601 UTC with microseconds, tuples as arrays; ``None`` and empty tuples are left out. ``canonical_json``
serializes with sorted keys (orjson), so the same event always gives the same bytes: those bytes are stored
and hashed, and decoding them gives back an equal event.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import typing
from enum import Enum
from typing import Any

import orjson

from gateway.audit.events import EVENT_CLASSES, AuditEvent
from gateway.audit.model import EventKind
from xca.errors import AuditEventError

__all__ = ["canonical_json", "decode_event", "encode_event", "format_time"]


def format_time(value: dt.datetime) -> str:
    """The one text form of a timestamp in the audit log: UTC, microseconds, ``Z``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: object) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


_PLAIN: frozenset[type[Any]] = frozenset({str, int, float, bool})
_FIELD_NAMES: dict[type[Any], tuple[str, ...] | None] = {}
"""Per type: its dataclass field names, or None for a type that is not a dataclass. Every exchange writes an
event of a few dozen nested values; asking ``dataclasses`` again for each was most of the encoding's cost."""


def _field_names(cls: type[Any]) -> tuple[str, ...] | None:
    try:
        return _FIELD_NAMES[cls]
    except KeyError:
        names = tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) else None
        _FIELD_NAMES[cls] = names
        return names


def _encode(value: object) -> Any:
    cls = type(value)
    if cls in _PLAIN or value is None:
        return value
    names = _field_names(cls)
    if names is not None:
        out: dict[str, Any] = {}
        for name in names:
            item = getattr(value, name)
            if item is None or item == ():
                continue
            out[name] = _encode(item)
        return out
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return format_time(value)
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    return value


def encode_event(event: AuditEvent) -> dict[str, Any]:
    """The JSON object stored for ``event``, with its ``kind`` discriminator."""
    content: dict[str, Any] = _encode(event)
    content["kind"] = type(event).kind.value
    return content


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _decode(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return None
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _decode(inner, value)
    if origin is tuple:
        (inner, _ellipsis) = typing.get_args(hint)
        return tuple(_decode(inner, item) for item in value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if hint is dt.datetime:
        return dt.datetime.fromisoformat(value)
    return value


def _decode_dataclass(cls: type[Any], data: dict[str, Any]) -> Any:
    hints = _hints(cls)
    kwargs = {
        field.name: _decode(hints[field.name], data[field.name])
        for field in dataclasses.fields(cls)
        if field.name in data
    }
    return cls(**kwargs)


def decode_event(content: dict[str, Any]) -> AuditEvent:
    """The event a stored content object describes; unknown kinds or fields raise ``AuditEventError``."""
    try:
        cls = EVENT_CLASSES[EventKind(content["kind"])]
        fields = {key: value for key, value in content.items() if key != "kind"}
        event: AuditEvent = _decode_dataclass(cls, fields)
    except (KeyError, ValueError, TypeError) as exc:
        if isinstance(exc, AuditEventError):
            raise
        raise AuditEventError(
            "stored audit content does not decode to an event", detail={"reason": type(exc).__name__}
        ) from exc
    return event
