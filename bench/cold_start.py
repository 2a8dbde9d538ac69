"""How long ``liftoff dev`` takes from spawn to its "liftoff is ready" banner, and to stop on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

READY = "liftoff is ready"
STOP_TIMEOUT = 20.0


@dataclass(frozen=True)
class StartTiming:
    """One start of ``liftoff dev``."""

    ready_s: float  # spawn → banner line read by us
    reported_s: float | None  # what the banner itself says (measured inside the process)
    stop_s: float  # SIGINT → process exit
    leftovers: int  # processes that outlived it (terminated by us)


def free_port() -> int:
    """A port nothing listens on right now (bind to port 0 and let the kernel pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pids_using(data_dir: Path) -> list[int]:
    """Processes whose command line names ``data_dir`` (the embedded servers of that run only)."""
    needle = str(data_dir).encode()
    found: list[int] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if needle in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
    return found


async def reap_leftovers(data_dir: Path) -> int:
    """Terminate (then kill) whatever of this run still holds ``data_dir``; returns how many there were."""
    pids = _pids_using(data_dir)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not _pids_using(data_dir):
            return len(pids)
        await asyncio.sleep(0.1)
    for pid in _pids_using(data_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


async def _wait_ready(stdout: asyncio.StreamReader, timeout: float) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(f"no {READY!r} line after {timeout:.0f}s")
        line = (await asyncio.wait_for(stdout.readline(), remaining)).decode(errors="replace")
        if not line:
            raise RuntimeError("liftoff dev exited before it was ready")
        if READY in line:
            return line


async def time_start(data_dir: Path, log_file: Path, timeout: float = 120) -> StartTiming:
    """Spawn ``liftoff dev`` on ``data_dir`` with free ports, wait for the banner, Ctrl-C it, wait for exit."""
    cmd = [
        f"{sysconfig.get_path('scripts')}/liftoff",
        "dev",
        "--data-dir",
        str(data_dir),
        "--api-port",
        str(free_port()),
        "--temporal-port",
        str(free_port()),
        "--ui-port",
        str(free_port()),
    ]
    # Embedded services only: a configured server would not be a cold start.
    env = {k: v for k, v in os.environ.items() if k not in ("LIFTOFF_DATABASE_URL", "LIFTOFF_TEMPORAL_ADDRESS")}
    with log_file.open("ab") as log:
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=log, env=env)
    assert proc.stdout is not None
    try:
        line = await _wait_ready(proc.stdout, timeout)
        ready_s = time.perf_counter() - started
        match = re.search(r"\(([\d.]+)s\)", line)
        stopping = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.communicate(), STOP_TIMEOUT)
        except TimeoutError:
            print(f"  liftoff dev did not stop within {STOP_TIMEOUT:.0f}s after SIGINT; killing it")
            proc.kill()
            await proc.wait()
        stop_s = time.perf_counter() - stopping
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        leftovers = await reap_leftovers(data_dir)
    return StartTiming(
        ready_s=ready_s, reported_s=float(match.group(1)) if match else None, stop_s=stop_s, leftovers=leftovers
    )


async def measure(workdir: Path) -> tuple[StartTiming, StartTiming]:
    """A cold start on an empty data dir (includes initdb), then a warm restart on the same one."""
    data_dir = workdir / "dev-data"
    log_file = workdir / "liftoff-dev.log"
    results: list[StartTiming] = []
    for label in ("cold (empty data dir)", "warm restart (same data dir)"):
        print(f"liftoff dev {label} …", flush=True)
        try:
            timing = await time_start(data_dir, log_file)
        except (TimeoutError, RuntimeError):
            print(f"  failed; its log ({log_file}):\n{log_file.read_text(errors='replace')[-4000:]}")
            raise
        reported = f" (banner says {timing.reported_s:.1f} s)" if timing.reported_s is not None else ""
        print(f"  ready after {timing.ready_s:.2f} s{reported}; stopped {timing.stop_s:.2f} s after SIGINT")
        if timing.leftovers:
            print(f"  WARNING: {timing.leftovers} process(es) outlived liftoff dev and were terminated")
        results.append(timing)
    return results[0], results[1]
