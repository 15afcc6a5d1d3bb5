"""The package exports every name from its submodule on first use, and ``search`` stays the function."""

from __future__ import annotations

import importlib
import subprocess
import sys

import gateway.audit


def test_every_exported_name_is_its_submodules_object() -> None:
    for name in gateway.audit.__all__:
        home = importlib.import_module(f"gateway.audit.{gateway.audit._HOME[name]}")
        assert getattr(gateway.audit, name) is getattr(home, name), name


def test_search_is_the_function_after_its_submodule_is_loaded_first() -> None:
    # A fresh interpreter: the order of imports is the point (the submodule ``search`` is set on the package).
    probe = (
        "import sys, gateway.audit.search\n"
        "from gateway.audit import search\n"
        "assert search is sys.modules['gateway.audit.search'].search, search\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=60)
