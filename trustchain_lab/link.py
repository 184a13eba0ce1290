"""A link with a one-way delay between an actor (worker, dispatcher) and Redis.

``Link`` says what the delay is (its distribution, for the real runs and the SimPy model
alike). Two ways to put it on real connections:

- ``tc netem`` on a network device, where the kernel has it (``netem_available``,
  ``netem_command``; probed in a throw-away network namespace, never on the host's devices);
- a userspace delaying TCP proxy on loopback: ``DelayProxy`` (asyncio, in your loop) or
  ``LinkProxy`` (the same proxy in its own process, so its CPU cost stays off your loop).

``python -m trustchain_lab.link --to HOST:PORT --delay S --jitter S --seed N`` runs one
proxy and prints its listening port as the first line of its output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import math
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.parse
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import timers
from .children import child_env
from .netns import run_command, throwaway_namespace

LISTEN_HOST = "127.0.0.1"
HIGH_WATER = 4 * 1024 * 1024  # bytes held per direction before the proxy stops reading
CONNECT_TIMEOUT = 5.0  # seconds for the proxy to reach its target
START_TIMEOUT = 15.0  # seconds for a LinkProxy child to report its port
STOP_TIMEOUT = 5.0  # seconds for a LinkProxy child to exit on SIGTERM before SIGKILL


@dataclass(frozen=True)
class Link:
    """A one-way delay on every connection between an actor and Redis, in seconds.

    Each chunk of bytes (what one read of the socket returns) is held, in either direction,
    for its own independent draw ``D = delay + jitter * U`` with ``U`` uniform on [-1, 1):
    uniform on [delay - jitter, delay + jitter], the distribution of netem's
    ``delay DELAY JITTER`` without a distribution table. ``jitter`` may not exceed ``delay``,
    so no draw is negative (nothing is clipped) and the mean is ``delay``.

    Byte order is kept per connection and direction: a chunk arriving at ``t`` leaves at
    ``max(t + D, the time the chunk before it left)`` (``releases`` computes it), so a chunk
    may wait longer than its draw, never shorter. A round trip costs two draws.
    """

    delay: float = 0.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        for name in ("delay", "jitter"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"Link.{name} must be a finite number of seconds, got {v!r}")
            if v < 0:
                raise ValueError(f"Link.{name} must be >= 0 seconds, got {v!r}")
        if self.jitter > self.delay:
            raise ValueError(
                f"Link.jitter must be <= Link.delay (a delay is never negative), "
                f"got jitter {self.jitter!r} > delay {self.delay!r}"
            )

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent one-way delays D (seconds)."""
        return self.delay + self.jitter * rng.uniform(-1.0, 1.0, n)

    def releases(self, arrivals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """When chunks arriving at ``arrivals`` (non-decreasing) leave, order kept."""
        arrivals = np.asarray(arrivals, dtype=float)
        return np.maximum.accumulate(arrivals + self.sample(rng, len(arrivals)))


# --- the proxy, in an event loop ---------------------------------------------------------


class _Draws:
    """One-way delays for one direction of one connection, drawn 256 at a time."""

    def __init__(self, link: Link, rng: np.random.Generator) -> None:
        self.link, self.rng = link, rng
        self.buffer: list[float] = []

    def __call__(self) -> float:
        if self.link.jitter == 0:
            return self.link.delay
        if not self.buffer:
            self.buffer = self.link.sample(self.rng, 256).tolist()[::-1]
        return self.buffer.pop()


class _Pipe:
    """One direction of one proxied connection: chunks from ``source`` are written to
    ``sink`` in order, each no earlier than its release time."""

    def __init__(self, proxy: DelayProxy, conn: _Connection, source: Any, sink: Any, draw: _Draws):
        self.proxy, self.conn, self.source, self.sink, self.draw = proxy, conn, source, sink, draw
        self.loop = asyncio.get_running_loop()
        self.held: deque[tuple[float, bytes]] = deque()
        self.held_bytes = 0
        self.last = -math.inf  # release time of the previous chunk
        self.timer: asyncio.TimerHandle | None = None
        self.eof = False  # the source sent EOF: pass it on after the held bytes
        self.done = False  # EOF passed on
        self.sink_blocked = False  # the sink's write buffer is above its high-water mark
        self.paused = False

    def feed(self, data: bytes) -> None:
        now = self.loop.time()
        due = now + self.draw()
        self.proxy.chunks += 1
        if due < self.last:
            self.proxy.held_back += 1  # its own draw would have overtaken the chunk before
            due = self.last
        self.last = due
        if not self.held and due <= now:
            self.sink.write(data)  # delay 0, or already late: no timer, no extra hop
            return
        self.held.append((due, data))
        self.held_bytes += len(data)
        if self.timer is None:
            self.timer = self.loop.call_at(due, self._release)
        self.flow()

    def _release(self) -> None:
        self.timer = None
        now = self.loop.time()
        first = True  # the loop ran this timer for the first chunk: it is due
        while self.held and (first or self.held[0][0] <= now):
            first = False
            data = self.held.popleft()[1]
            self.held_bytes -= len(data)
            self.sink.write(data)
        if self.held:
            self.timer = self.loop.call_at(self.held[0][0], self._release)
        elif self.eof:
            self._pass_eof()
        self.flow()

    def source_eof(self) -> None:
        self.eof = True
        if not self.held:
            self._pass_eof()

    def _pass_eof(self) -> None:
        if self.done:
            return
        self.done = True
        if self.sink.can_write_eof():
            with contextlib.suppress(OSError):  # the other side reset the connection first
                self.sink.write_eof()
        self.conn.pipe_done()

    def flow(self) -> None:
        """Stop reading the source while too much is held or the sink is blocked."""
        pause = self.held_bytes > HIGH_WATER or self.sink_blocked
        if pause != self.paused and not self.source.is_closing():
            self.paused = pause
            (self.source.pause_reading if pause else self.source.resume_reading)()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.held.clear()


class _End(asyncio.Protocol):
    """One socket of a proxied connection (``side`` 0: the client's, 1: the target's)."""

    def __init__(self, conn: _Connection, side: int) -> None:
        self.conn, self.side = conn, side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.conn.made(self.side, transport)

    def data_received(self, data: bytes) -> None:
        self.conn.pipes[self.side].feed(data)

    def eof_received(self) -> bool:
        self.conn.pipes[self.side].source_eof()
        return True  # keep the socket open for the other direction

    def pause_writing(self) -> None:
        self.conn.sink_blocked(self.side, True)

    def resume_writing(self) -> None:
        self.conn.sink_blocked(self.side, False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.close()


class _Connection:
    """A client's connection to the proxy and the proxy's connection to the target."""

    def __init__(self, proxy: DelayProxy, index: int) -> None:
        self.proxy, self.index = proxy, index
        self.transports: list[Any] = []
        self.pipes: list[_Pipe] = []
        self.closed = False

    def made(self, side: int, transport: Any) -> None:
        if self.closed:  # the client left while the target was being reached
            transport.close()
            return
        self.transports.append(transport)
        if side == 0:  # accepted: read nothing until the target is connected
            transport.pause_reading()
            self.proxy._connect(self)
            return
        client, target = self.transports
        draws = [_Draws(self.proxy.link, self.proxy._rng(self.index, d)) for d in (0, 1)]
        self.pipes = [
            _Pipe(self.proxy, self, client, target, draws[0]),
            _Pipe(self.proxy, self, target, client, draws[1]),
        ]
        client.resume_reading()

    def sink_blocked(self, side: int, blocked: bool) -> None:
        if self.pipes:
            pipe = self.pipes[1 - side]  # the pipe that writes to this side
            pipe.sink_blocked = blocked
            pipe.flow()

    def pipe_done(self) -> None:
        if all(p.done for p in self.pipes):
            self.close()

    def close(self, abort: bool = False) -> None:
        """Close both sockets: flushing what was released, or at once (``abort``)."""
        if self.closed:
            return
        self.closed = True
        for pipe in self.pipes:
            pipe.cancel()
        for transport in self.transports:
            transport.abort() if abort else transport.close()
        self.proxy._connections.discard(self)


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that delays every chunk, both ways, as ``link`` says.

    ``await proxy.start()`` (or ``async with``) listens on a free port (``proxy.port``);
    each accepted connection gets its own connection to ``target`` (host, port), opened
    2·delay after the accept (the TCP handshake's round trip; no jitter). Jitter draws come
    from a numpy Generator seeded with (``seed``, connection number, direction):
    reproducible per connection.
    ``chunks`` counts chunks forwarded, ``held_back`` those that waited behind an earlier one.
    ``await proxy.close()`` closes the listener and every connection; idempotent.
    """

    def __init__(
        self,
        target: tuple[str, int],
        link: Link,
        seed: int | None = 0,
        port: int = 0,
        listen: str = LISTEN_HOST,
    ) -> None:
        self.target, self.link, self.seed = target, link, seed
        self.port, self.listen = port, listen
        self.chunks = self.held_back = 0
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._connecting: set[asyncio.Task[None]] = set()
        self._accepted = 0
        self._closed = False

    def _rng(self, index: int, direction: int) -> np.random.Generator:
        if self.seed is None:
            return np.random.default_rng()
        return np.random.default_rng([self.seed, index, direction])

    async def start(self) -> DelayProxy:
        """Listen on ``self.listen`` (default 127.0.0.1); ``self.port`` is the port."""
        if self._server is not None or self._closed:
            raise RuntimeError("a DelayProxy starts once")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, self.listen, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _accept(self) -> _End:
        conn = _Connection(self, self._accepted)
        self._accepted += 1
        self._connections.add(conn)
        return _End(conn, 0)

    def _connect(self, conn: _Connection) -> None:
        task = asyncio.get_running_loop().create_task(self._open(conn))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _open(self, conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.target
        try:
            await asyncio.sleep(2 * self.link.delay)  # SYN, SYN-ACK
            await asyncio.wait_for(
                loop.create_connection(lambda: _End(conn, 1), host, port), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError):
            conn.close()  # the client sees its connection closed, as with a refused one

    async def close(self) -> None:
        """Stop listening; close every connection (held bytes are dropped). Idempotent."""
        self._closed = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._connecting):
            task.cancel()
        for conn in list(self._connections):
            conn.close(abort=True)
        if self._connecting:
            await asyncio.wait(list(self._connecting), timeout=CONNECT_TIMEOUT)
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), STOP_TIMEOUT)
        await asyncio.sleep(0)  # let the transports' connection_lost run

    async def __aenter__(self) -> DelayProxy:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


# --- the proxy in its own process --------------------------------------------------------


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _target(url: str) -> tuple[urllib.parse.SplitResult, str, int]:
    """The URL's parts, host and port; ValueError in one line if it is not a loopback Redis."""
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port or 6379
    except ValueError as exc:
        raise ValueError(f"LinkProxy: malformed Redis URL: {exc}") from None
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"LinkProxy needs a redis:// or rediss:// URL, got {parts.scheme}://")
    if host is None or not _loopback(host):
        raise ValueError(f"LinkProxy only reaches a Redis on loopback, got host {host!r}")
    return parts, host, port


class LinkProxy:
    """A ``DelayProxy`` to the Redis at ``redis_url`` (on loopback), in a child process.

    ``with LinkProxy(url, Link(delay=0.02)) as p: Redis.from_url(p.url)``: ``p.url`` is the
    same URL (user, password, db, query kept) through the proxy. The child stops on exit,
    on an exception or Ctrl-C in the block (SIGTERM, then SIGKILL after ``STOP_TIMEOUT``),
    and by itself when this process dies (it exits at EOF on its stdin, our pipe).
    """

    def __init__(
        self,
        redis_url: str,
        link: Link,
        seed: int | None = 0,
        listen: str = LISTEN_HOST,
        connections: int = 64,
    ) -> None:
        self.link, self.seed, self.listen = link, seed, listen
        self.connections = connections  # expected at once: its loop is chosen for them
        self._parts, self._host, self._port = _target(redis_url)
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._err: Any = None

    @property
    def pid(self) -> int | None:
        """The child's process id, while it runs."""
        return None if self._proc is None else self._proc.pid

    @property
    def url(self) -> str:
        """The Redis URL through the proxy."""
        if self.port is None:
            raise RuntimeError("the LinkProxy is not running")
        user = self._parts.netloc.rpartition("@")[0]
        host = self.listen
        if self.listen == LISTEN_HOST and self._host == "localhost":
            host = "localhost"  # TLS names match
        netloc = f"{user}@{host}:{self.port}" if user else f"{host}:{self.port}"
        return urllib.parse.urlunsplit(self._parts._replace(netloc=netloc))

    def start(self) -> LinkProxy:
        """Start the child; wait (at most ``START_TIMEOUT``) for its port."""
        if self._proc is not None:
            raise RuntimeError("a LinkProxy starts once")
        argv = [sys.executable, "-m", "trustchain_lab.link", "--watch-stdin"]
        argv += ["--to", f"[{self._host}]:{self._port}", "--listen", self.listen]
        argv += ["--connections", str(self.connections)]
        argv += ["--delay", repr(self.link.delay), "--jitter", repr(self.link.jitter)]
        argv += [] if self.seed is None else ["--seed", str(self.seed)]
        env = child_env()  # the child imports this very package
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 (kept open: closed in close())
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, env=env
        )
        try:
            self.port = self._read_port(self._err)
        except BaseException:
            self.close()
            raise
        return self

    def _read_port(self, err: Any) -> int:
        assert self._proc is not None and self._proc.stdout is not None
        ready, _, _ = select.select([self._proc.stdout], [], [], START_TIMEOUT)
        line = self._proc.stdout.readline() if ready else b""
        if line.strip().isdigit():
            return int(line)
        if not ready:
            raise RuntimeError(f"LinkProxy: the proxy did not start within {START_TIMEOUT} s")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(STOP_TIMEOUT)
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines() or ["no output"]
        raise RuntimeError(f"LinkProxy: the proxy did not start: {lines[-1]}")

    def close(self) -> None:
        """Stop the child (bounded waits); idempotent."""
        proc, self._proc, self.port = self._proc, None, None
        if proc is None:
            return
        try:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
            if self._err is not None:
                self._err.close()
                self._err = None

    def __enter__(self) -> LinkProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --- tc netem ------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.6g}ms"


def netem_command(dev: str, link: Link) -> list[str]:
    """argv of ``tc qdisc add dev DEV root netem delay Xms [Yms]``.

    netem delays what leaves ``dev``: one direction; on a veth pair put it on both ends.
    Its jitter (no distribution table) is uniform on [X - Y, X + Y], as ``Link``'s; it may
    reorder packets, which TCP puts back in order (at some cost in retransmissions).
    """
    if not dev or len(dev) > 15 or any(c.isspace() or c == "/" for c in dev):
        raise ValueError(f"not a network device name: {dev!r}")
    argv = ["tc", "qdisc", "add", "dev", dev, "root", "netem", "delay", _ms(link.delay)]
    return [*argv, _ms(link.jitter)] if link.jitter > 0 else argv


def netem_available() -> tuple[bool, str]:
    """Whether ``tc qdisc ... netem`` works here, and why not in one line.

    Checked in a throw-away network namespace: the host's devices are never touched.
    """
    if os.geteuid() != 0:
        return (
            False,
            f"netem needs root to make a network namespace (running as uid {os.geteuid()})",
        )
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return False, f"no `{tool}` on PATH (Debian: apt-get install iproute2)"
    try:
        with throwaway_namespace("tclab-probe-") as ns:
            status, text = run_command(
                ["ip", "netns", "exec", ns, *netem_command("lo", Link(0.001))]
            )
    except RuntimeError as exc:
        return False, str(exc)
    if status != 0:
        return False, f"this kernel has no netem qdisc (sch_netem): tc says {text!r}"
    return True, "tc netem works (checked in a throw-away network namespace)"


# --- python -m trustchain_lab.link ---------------------------------------------------------


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


async def _serve(
    target: tuple[str, int], link: Link, seed: int | None, watch: bool, listen: str
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if watch:  # our parent holds the other end of stdin: EOF means it is gone

        def on_stdin() -> None:
            if not os.read(sys.stdin.fileno(), 4096):
                stop.set()

        loop.add_reader(sys.stdin.fileno(), on_stdin)
    async with DelayProxy(target, link, seed, listen=listen) as proxy:
        print(proxy.port, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Run one proxy until SIGTERM, SIGINT or (with --watch-stdin) EOF on stdin."""
    p = argparse.ArgumentParser(prog="python -m trustchain_lab.link", description=main.__doc__)
    p.add_argument("--to", type=_host_port, required=True, metavar="HOST:PORT")
    p.add_argument("--delay", type=float, default=0.0, help="one-way delay, seconds")
    p.add_argument("--jitter", type=float, default=0.0, help="uniform half-width, seconds")
    p.add_argument("--seed", type=int, default=None, help="jitter seed (default: random)")
    p.add_argument("--watch-stdin", action="store_true", help="stop at EOF on stdin")
    p.add_argument(
        "--listen", default=LISTEN_HOST, help="address to listen on (default: %(default)s)"
    )
    p.add_argument(
        "--connections", type=int, default=64, help="connections expected at once (default: 64)"
    )
    args = p.parse_args(argv)
    try:
        link = Link(args.delay, args.jitter)
    except ValueError as exc:
        p.error(str(exc))
    if not _loopback(args.to[0]):
        p.error(f"the proxy only reaches loopback, got host {args.to[0]!r}")
    # on time (select) unless more sockets than select() watches: two per connection
    sockets = 2 * args.connections + 8
    timers.run(_serve(args.to, link, args.seed, args.watch_stdin, args.listen), sockets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
