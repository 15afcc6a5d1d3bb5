"""``hiegate ... | head -1``: when the reader goes away the command stops quietly, as Unix tools do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from tests.env import isolate_settings

SCRIPT = Path(sys.executable).parent / "hiegate"


@pytest.fixture
def workdir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    isolate_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("HIEGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'pipe.db'}")
    return tmp_path


def _run_into_closed_reader(args: list[str], cwd: Path) -> tuple[bytes, int, str]:
    """Run ``hiegate args``, read its first line and close the pipe, as ``head -1`` does."""
    with subprocess.Popen(
        [str(SCRIPT), *args], cwd=cwd, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        first = child.stdout.readline()
        child.stdout.close()
        err = child.stderr.read().decode()
        status = child.wait(timeout=60)
    return first, status, err


def test_a_reader_that_closes_early_ends_the_command_quietly(workdir: Path) -> None:
    # More than a pipe's buffer (64 KiB) of listing, so the command is still writing when the reader leaves.
    organizations = [
        {"resourceType": "Organization", "id": f"o{n}", "name": f"Clinic {n:04d} of a long enough name",
         "identifier": [{"value": f"urn:oid:1.3.6.1.4.1.99999.8.{n}"}]}
        for n in range(1500)
    ]  # fmt: skip
    directory = workdir / "directory.json"
    entries = [{"resource": org} for org in organizations]
    directory.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    assert main(["directory", "import", str(directory)]) == 0

    first, status, err = _run_into_closed_reader(["directory", "list"], workdir)

    assert first.startswith(b"1.3.6.1.4.1.99999.8.0 ")
    assert err == ""
    assert status == 141  # 128 + SIGPIPE, what a shell reports for a tool the pipe ended


def test_a_reader_gone_before_any_output_ends_it_quietly_too(workdir: Path) -> None:
    # A few kilobytes, buffered: whether they fail while printing or when flushed at exit, no message.
    with subprocess.Popen(
        [str(SCRIPT), "config", "show"], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        assert child.stdout is not None
        assert child.stderr is not None
        child.stdout.close()
        err = child.stderr.read().decode()
        status = child.wait(timeout=60)
    assert err == ""
    assert status == 141
