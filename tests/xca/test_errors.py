"""The one exception hierarchy: every HieGatewayError subclass of the project is in ``xca.errors``, has a
unique ``HG-dddd`` code and is drawn, with its code, parent and built-in base, in the package docstring."""

from __future__ import annotations

import builtins
import importlib
import pkgutil
import re
from dataclasses import dataclass

import pytest

import xca.errors
from xca.errors import HieGatewayError

PACKAGES = ("xca", "gateway", "fhir_facade", "certs")
NOT_IMPORTABLE = ("gateway.store.migrations",)  # Alembic scripts: they run against a live context on import

TREE_LINE = re.compile(
    r"^    (?P<prefix>(?:[│ ]   )*(?:[├└]── )?)(?P<name>[A-Z]\w+)(?:\((?P<builtin>\w+)\))?"
    r"\s+(?P<code>HG-\S+)\s"
)


@dataclass(frozen=True)
class Node:
    name: str
    code: str
    parent: str | None
    builtin: str | None


def _import_all() -> None:
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if not info.name.startswith(NOT_IMPORTABLE):
                importlib.import_module(info.name)


def _subclasses(cls: type[HieGatewayError]) -> list[type[HieGatewayError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _tree() -> dict[str, Node]:
    doc = xca.errors.__doc__ or ""
    nodes: dict[str, Node] = {}
    parents: list[str] = []
    for line in doc.splitlines():
        match = TREE_LINE.match(line)
        if match is None:
            continue
        depth = len(match["prefix"]) // 4
        del parents[depth:]
        name = match["name"]
        assert name not in nodes, f"{name} is drawn twice"
        nodes[name] = Node(name, match["code"], parents[-1] if parents else None, match["builtin"])
        parents.append(name)
    return nodes


@pytest.fixture(scope="module")
def classes() -> list[type[HieGatewayError]]:
    _import_all()
    return [HieGatewayError, *dict.fromkeys(_subclasses(HieGatewayError))]


@pytest.fixture(scope="module")
def tree() -> dict[str, Node]:
    return _tree()


def test_every_class_lives_in_xca_errors_and_is_exported(classes: list[type[HieGatewayError]]) -> None:
    for cls in classes:
        assert cls.__module__.startswith("xca.errors"), f"{cls.__qualname__} is defined in {cls.__module__}"
        assert cls.__name__ in xca.errors.__all__
        assert getattr(xca.errors, cls.__name__) is cls


def test_codes_are_well_formed_and_unique(classes: list[type[HieGatewayError]]) -> None:
    seen: dict[str, str] = {}
    for cls in classes:
        assert re.fullmatch(r"HG-\d{4}", cls.code), f"{cls.__name__}: {cls.code!r}"
        if "code" not in vars(cls):
            # a refinement that keeps its parent's code (the tree draws it under the parent, same code)
            continue
        assert cls.code not in seen, f"{cls.__name__} reuses {cls.code} of {seen.get(cls.code)}"
        seen[cls.code] = cls.__name__


def test_every_class_is_drawn_with_its_code_and_parent(
    classes: list[type[HieGatewayError]], tree: dict[str, Node]
) -> None:
    assert tree["HieGatewayError"].parent is None
    names = {cls.__name__ for cls in classes}
    assert set(tree) == names, f"missing: {names - set(tree)}, not classes: {set(tree) - names}"
    for cls in classes[1:]:
        node = tree[cls.__name__]
        assert node.code == cls.code, f"{cls.__name__}: drawn {node.code}, is {cls.code}"
        (parent,) = [base for base in cls.__bases__ if issubclass(base, HieGatewayError)]
        assert node.parent == parent.__name__, f"{cls.__name__}: drawn under {node.parent}"


def test_input_errors_subclass_the_builtin_the_tree_names(
    classes: list[type[HieGatewayError]], tree: dict[str, Node]
) -> None:
    value_errors = []
    for cls in classes[1:]:
        node = tree[cls.__name__]
        direct = [base.__name__ for base in cls.__bases__ if not issubclass(base, HieGatewayError)]
        assert direct == ([node.builtin] if node.builtin else []), f"{cls.__name__}: bases {direct}"
        if node.builtin:
            assert issubclass(cls, getattr(builtins, node.builtin))
        if node.builtin == "ValueError":
            value_errors.append(cls.__name__)
    # the bad-input families the hierarchy promises as ValueError (callers catch them as such)
    promised = ("ConfigError", "XmlRefusedError", "WireFormatError", "InvalidRequestError", "AuditEventError")
    for name in promised:
        assert name in value_errors
    assert issubclass(xca.errors.UnsupportedSearchError, ValueError)
    assert issubclass(xca.errors.XmlExternalEntityError, ValueError)
