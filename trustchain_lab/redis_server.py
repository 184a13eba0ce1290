"""Start a private ``redis-server`` on a free loopback port, and stop it."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

STARTUP_TIMEOUT = 10.0  # seconds for a new server to answer PING


class RedisServerError(RuntimeError):
    """The private redis-server could not be started."""


def redis_server_binary() -> str | None:
    """Path of the ``redis-server`` binary on PATH, or None."""
    return shutil.which("redis-server")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A throw-away redis-server bound to 127.0.0.1, persisting nothing.

    ``with RedisServer() as server: use(server.url)``; the process is stopped on exit.
    For fault injection: ``kill()`` (a crash), ``restart()`` (back on the same port, empty),
    ``pause()`` / ``resume()`` (SIGSTOP / SIGCONT: a stall).
    """

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or redis_server_binary()
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RedisServerError("the server is not running")
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, attempts: int = 3) -> RedisServer:
        if self.binary is None:
            raise RedisServerError("no redis-server on PATH (Debian: apt-get install redis-server)")
        last = ""
        for _ in range(attempts):  # a port taken between free_port() and bind: try another
            last = self._launch(free_port())
            if self.port is not None:
                return self
            self.stop()
        raise RedisServerError(f"redis-server did not start: {last.strip() or 'no log'}")

    def _launch(self, port: int) -> str:
        """Start the process on ``port``; sets ``self.port`` once it answers, else returns
        the tail of its log."""
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="trustchain-redis-")
        log = Path(self._dir.name) / "log"
        self._proc = subprocess.Popen(
            [
                str(self.binary),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir.name,
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                "--logfile",
                str(log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and self._proc.poll() is None:
            if _ping(port):
                self.port = port
                return ""
            time.sleep(0.02)
        return log.read_text(errors="replace")[-500:] if log.exists() else ""

    def kill(self) -> None:
        """Crash the server (SIGKILL); its data is gone. The port stays reserved."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=5)

    def restart(self) -> None:
        """Bring a killed server back on the same port, empty."""
        port = self.port
        if port is None or self._proc is None or self._proc.poll() is None:
            raise RedisServerError("restart() needs a server that was started, then killed")
        self.port = None
        last = self._launch(port)
        if self.port is None:
            raise RedisServerError(f"redis-server did not restart on {port}: {last.strip()}")

    def pause(self) -> None:
        """Stall the server (SIGSTOP): connections stay open, nothing is answered."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server go on (SIGCONT)."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def version(self) -> str:
        out = subprocess.run(
            [self.binary or "redis-server", "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
        return out.split("v=")[1].split()[0] if "v=" in out else out.strip()

    def stop(self) -> None:
        if self._proc is not None:
            self.resume()  # a paused server does not act on SIGTERM
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=5)
            self._proc = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
        self.port = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
