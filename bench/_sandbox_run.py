"""The sandbox network as the pull benchmark runs it: ``hiegate sandbox`` as a child process (its own GIL),
or in this process for comparison, and what the benchmark reads of the child (its CPU and peak memory from
Linux ``/proc``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.sandbox import SandboxConfig, run_sandbox

__all__ = ["RunningSandbox", "proc_cpu_s", "proc_peak_mb", "sandbox_in_process", "sandbox_process"]

_POLL_S = 0.05
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class RunningSandbox:
    """What the pull needs from a running sandbox, whichever process it runs in."""

    directory_path: Path
    patients: list[dict[str, Any]]
    startup_s: float
    pid: int | None = None  # None: in this process


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` so far (Linux ``/proc``), None when unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return None


def proc_peak_mb(pid: int) -> float | None:
    """RSS high-water mark of ``pid`` in MB (Linux ``/proc``), None when unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _hiegate() -> list[str]:
    script = Path(sys.executable).parent / "hiegate"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gateway.cli"]


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


@contextmanager
def sandbox_process(
    config: SandboxConfig, *, log: Path, startup_timeout: float, stop_timeout: float
) -> Iterator[RunningSandbox]:
    """``hiegate sandbox`` as a child process: ready once it wrote ``directory.json`` and ``patients.json``
    (both written atomically, after every server listens); stopped with SIGINT, killed when it does not stop
    within ``stop_timeout`` or when anything failed before it was ready."""
    command = [
        *_hiegate(), "sandbox",
        "--gateways", str(config.gateways), "--patients", str(config.patients), "--seed", str(config.seed),
        "--folder", str(config.folder), "--threads", str(config.threads),
        "--documents", f"{config.documents[0]}-{config.documents[1]}", "--background", str(config.background),
    ]  # fmt: skip
    if config.latency:
        command += ["--latency", config.latency]
    if config.faults:
        command += ["--faults", config.faults]
    env = {**os.environ, "HIEGATE_CERTS_DIR": str(config.certs_dir)}
    directory_path, patients_path = config.folder / "directory.json", config.folder / "patients.json"
    for stale in (directory_path, patients_path):
        stale.unlink(missing_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("wb") as output:
        # Own session: a Ctrl-C at the terminal reaches this process only, which then stops the sandbox.
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip
    ready = False
    try:
        deadline = started + startup_timeout
        while not (directory_path.exists() and patients_path.exists()):
            if process.poll() is not None:
                raise RuntimeError(
                    f"the sandbox exited with status {process.returncode} before it was ready:\n{_tail(log)}"
                )
            if time.perf_counter() > deadline:
                raise TimeoutError(f"the sandbox was not ready within {startup_timeout:g} s:\n{_tail(log)}")
            time.sleep(_POLL_S)
        startup = time.perf_counter() - started
        patients = json.loads(patients_path.read_text(encoding="utf-8"))
        ready = True
        yield RunningSandbox(directory_path, patients, startup, process.pid)
    finally:
        if process.poll() is None:
            if ready:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=stop_timeout)
                except subprocess.TimeoutExpired:
                    print(f"  sandbox not stopped {stop_timeout:g} s after SIGINT: killed", flush=True)
            if process.poll() is None:
                process.kill()
                process.wait()
        if ready and process.returncode != 0:
            print(f"  sandbox exited with status {process.returncode}:\n{_tail(log)}", flush=True)


@contextmanager
def sandbox_in_process(config: SandboxConfig) -> Iterator[RunningSandbox]:
    started = time.perf_counter()
    with run_sandbox(config) as sandbox:
        yield RunningSandbox(sandbox.directory_path, sandbox.patients, time.perf_counter() - started)
