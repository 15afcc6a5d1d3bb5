"""SMART system scopes: v1 (``system/Patient.read``) and v2 (``system/Patient.rs``) forms, and operations.

A scope grants actions (``c``reate, ``r``ead, ``u``pdate, ``d``elete, ``s``earch) on a resource type or on
``*``, or one named operation (``system/Patient.$pull``). v1 ``read`` is ``rs``, ``write`` is ``cud``,
``*`` is ``cruds``. Two deliberate narrowings of the wildcard, for compliance: ``system/*`` does not reach
``AuditEvent`` (the audit trail needs ``system/AuditEvent.read`` or ``.rs`` by name), and operations are
never implied by a wildcard (``system/Patient.$pull`` starts pulls). Scopes with query parameters (v2
``?category=...``) are not supported and are refused at registration and token time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "AUDIT_RESOURCE",
    "EXAMPLE_SCOPES",
    "Scope",
    "ScopeSet",
    "parse_scope",
]

AUDIT_RESOURCE = "AuditEvent"
_ACTIONS = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"system/(?P<type>\*|[A-Z][A-Za-z]{1,63})\.(?P<what>\$[a-z][A-Za-z0-9-]{0,63}|[a-z*]+)")
EXAMPLE_SCOPES = (
    "system/Patient.read",
    "system/Patient.rs",
    "system/Patient.cruds",
    "system/*.read",
    "system/Patient.$pull",
    "system/AuditEvent.read",
)


@dataclass(frozen=True, slots=True)
class Scope:
    """One parsed scope: actions on a resource type (or ``*``), or an operation."""

    text: str
    resource: str
    actions: frozenset[str] = frozenset()
    operation: str | None = None


def parse_scope(text: str) -> Scope | None:
    """The scope named by ``text``, or ``None`` when it is not a system scope this server understands."""
    match = _SCOPE.fullmatch(text)
    if match is None:
        return None
    resource, what = match["type"], match["what"]
    if what.startswith("$"):
        return None if resource == "*" else Scope(text, resource, operation=what)
    if what in _V1:
        return Scope(text, resource, frozenset(_V1[what]))
    # v2: letters from "cruds", in that order, each at most once.
    if not re.fullmatch("c?r?u?d?s?", what) or not what:
        return None
    return Scope(text, resource, frozenset(what))


@dataclass(frozen=True, slots=True)
class ScopeSet:
    """The scopes of a token, key or registration; answers "may this do X on Y?"."""

    scopes: tuple[Scope, ...]

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> ScopeSet:
        """Scopes from a space-separated string (or a list); raises ``ValueError`` naming an unknown one."""
        items = text.split() if isinstance(text, str) else list(text)
        parsed = []
        for item in items:
            scope = parse_scope(item)
            if scope is None:
                raise ValueError(f"unsupported scope {item!r}")
            parsed.append(scope)
        return cls(tuple(dict.fromkeys(parsed)))

    @property
    def text(self) -> str:
        return " ".join(scope.text for scope in self.scopes)

    def allows(self, resource: str, action: str) -> bool:
        for scope in self.scopes:
            if action not in scope.actions:
                continue
            if scope.resource == resource or (scope.resource == "*" and resource != AUDIT_RESOURCE):
                return True
        return False

    def allows_operation(self, resource: str, operation: str) -> bool:
        return any(s.operation == operation and s.resource == resource for s in self.scopes)

    def covers(self, scope: Scope) -> bool:
        """Whether everything ``scope`` grants is already granted here (so it may be issued)."""
        if scope.operation is not None:
            return self.allows_operation(scope.resource, scope.operation)
        if scope.resource == "*":
            return all(any(s.resource == "*" and a in s.actions for s in self.scopes) for a in scope.actions)
        return all(self.allows(scope.resource, action) for action in scope.actions)

    def grant(self, requested: ScopeSet) -> ScopeSet:
        """The requested scopes this set covers (the token gets those; others are dropped)."""
        return ScopeSet(tuple(scope for scope in requested.scopes if self.covers(scope)))
