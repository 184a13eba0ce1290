"""Links with a one-way delay: the distribution, the delaying proxy (in-process and in its
own process), that everything it starts is gone afterwards, and tc netem where it exists."""

from __future__ import annotations

import asyncio
import math
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import redis

from trustchain_lab.link import (
    DelayProxy,
    Link,
    LinkProxy,
    main,
    netem_available,
    netem_command,
)
from trustchain_lab.netns import throwaway_namespace

ROOT = Path(__file__).resolve().parents[1]
WAIT = 20.0  # seconds: the bound on any wait for a process here


def sync_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=WAIT, socket_connect_timeout=WAIT)


def gone(pid: int, within: float = WAIT) -> bool:
    """True once ``pid`` has exited (a zombie nobody reaped yet counts as exited)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


# --- Link ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delay": -0.001}, r"Link.delay must be >= 0"),
        ({"delay": math.nan}, r"Link.delay must be a finite number"),
        ({"delay": math.inf}, r"Link.delay must be a finite number"),
        ({"delay": "0.01"}, r"Link.delay must be a finite number"),
        ({"delay": True}, r"Link.delay must be a finite number"),
        ({"delay": 0.01, "jitter": -0.001}, r"Link.jitter must be >= 0"),
        ({"delay": 0.01, "jitter": 0.02}, r"Link.jitter must be <= Link.delay"),
    ],
)
def test_a_bad_link_is_a_one_line_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        Link(**kwargs)
    assert "\n" not in str(err.value)


def test_draws_are_uniform_around_delay_and_releases_keep_order():
    link = Link(delay=0.02, jitter=0.005)
    d = link.sample(np.random.default_rng(1), 100_000)
    assert d.min() >= 0.015 and d.max() <= 0.025
    assert abs(d.mean() - 0.02) < 5 * (0.005 / math.sqrt(3)) / math.sqrt(len(d))
    assert np.array_equal(d, link.sample(np.random.default_rng(1), 100_000))

    arrivals = np.arange(1000) * 1e-4  # much closer together than the jitter
    out = link.releases(arrivals, np.random.default_rng(2))
    assert np.all(np.diff(out) >= 0) and np.all(out >= arrivals + 0.015)
    assert np.all(Link(0.003).releases(arrivals, np.random.default_rng(0)) == arrivals + 0.003)


def test_netem_command_argv():
    assert netem_command("veth0", Link(0.02, 0.005)) == (
        ["tc", "qdisc", "add", "dev", "veth0", "root", "netem", "delay", "20ms", "5ms"]
    )
    assert netem_command("lo", Link(0.0015)) == [
        "tc",
        "qdisc",
        "add",
        "dev",
        "lo",
        "root",
        "netem",
        "delay",
        "1.5ms",
    ]
    with pytest.raises(ValueError, match="not a network device name"):
        netem_command("eth0 root", Link(0.01))


# --- DelayProxy, in this event loop ------------------------------------------------------


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(4096):
        writer.write(data)
        await writer.drain()
    writer.close()


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    """True when the peer closed the connection, by FIN (nothing more to read) or RST."""
    try:
        return await asyncio.wait_for(reader.read(-1), WAIT) == b""
    except ConnectionResetError:  # closed with bytes we sent still unread: TCP resets
        return True


async def test_jitter_keeps_the_byte_stream_identical_both_ways():
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    target = ("127.0.0.1", server.sockets[0].getsockname()[1])
    rng = np.random.default_rng(7)
    chunks = [rng.bytes(int(n)) for n in rng.integers(1, 64, 2000)]
    sent = b"".join(chunks)
    async with server, DelayProxy(target, Link(0.002, 0.002), seed=1) as proxy:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", proxy.port), WAIT
        )

        async def send() -> None:
            for i, chunk in enumerate(chunks):
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(0.0002 if i % 10 == 0 else 0)  # arrive as many chunks
            writer.write_eof()

        sender = asyncio.create_task(send())
        got = await asyncio.wait_for(reader.read(-1), WAIT)  # until the echo's EOF
        await sender
        writer.close()
    assert got == sent
    assert proxy.chunks > 200 and proxy.held_back > 0  # draws that would have reordered


async def test_close_is_idempotent_and_closes_every_connection():
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    target = ("127.0.0.1", server.sockets[0].getsockname()[1])
    async with server:
        proxy = await DelayProxy(target, Link(0.05)).start()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"held by the delay when the proxy closes")
        await writer.drain()
        await proxy.close()
        await proxy.close()
        assert await closed_by_peer(reader)
        writer.close()
        with pytest.raises(OSError):
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", proxy.port), WAIT)


async def test_an_unreachable_target_closes_the_client_connection():
    async with DelayProxy(("127.0.0.1", 1), Link()) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"PING\r\n")
        assert await closed_by_peer(reader)
        writer.close()


# --- LinkProxy, over a private redis-server ----------------------------------------------


def test_ping_set_get_through_the_proxy_in_the_urls_db(real_redis_url):
    url = real_redis_url.replace("/0", "/3") + "?socket_keepalive=true"
    with LinkProxy(url, Link(0.001, 0.0005)) as proxy:
        assert proxy.url == f"redis://127.0.0.1:{proxy.port}/3?socket_keepalive=true"
        client, direct = sync_client(proxy.url), sync_client(url)
        try:
            assert client.ping()
            assert client.set("link:k", "v")
            assert client.get("link:k") == b"v"
            assert direct.get("link:k") == b"v"  # the same db
        finally:
            direct.delete("link:k")
            client.close()
            direct.close()


def test_the_url_keeps_user_and_password(real_redis_url):
    port = real_redis_url.rsplit(":", 1)[1].split("/")[0]
    with LinkProxy(f"redis://u:s3cret@127.0.0.1:{port}/2", Link()) as proxy:
        assert proxy.url == f"redis://u:s3cret@127.0.0.1:{proxy.port}/2"


def test_a_round_trip_costs_at_least_two_one_way_delays(real_redis_url):
    with LinkProxy(real_redis_url, Link(0.02)) as proxy:
        client = sync_client(proxy.url)
        try:
            client.ping()  # connect first
            rtts = []
            for _ in range(5):
                t = time.perf_counter()
                client.ping()
                rtts.append(time.perf_counter() - t)
        finally:
            client.close()
    assert min(rtts) >= 2 * 0.02


def test_pipelined_replies_arrive_in_order_under_jitter(real_redis_url):
    with LinkProxy(real_redis_url, Link(0.005, 0.005), seed=3) as proxy:
        client = sync_client(proxy.url)
        try:
            client.delete("link:n")
            pipe = client.pipeline(transaction=False)
            for i in range(500):
                pipe.incr("link:n")
                pipe.echo(f"m{i}")
            replies = pipe.execute()
            client.delete("link:n")
        finally:
            client.close()
    assert replies == [r for i in range(500) for r in (i + 1, f"m{i}".encode())]


def test_the_child_is_gone_after_the_block_and_after_an_exception(real_redis_url):
    with LinkProxy(real_redis_url, Link()) as proxy:
        pid = proxy.pid
    assert pid is not None and gone(pid) and proxy.pid is None
    with pytest.raises(ZeroDivisionError), LinkProxy(real_redis_url, Link()) as proxy:
        pid = proxy.pid
        1 / 0  # noqa: B018
    assert pid is not None and gone(pid)
    proxy.close()  # idempotent
    with pytest.raises(RuntimeError, match="not running"):
        proxy.url  # noqa: B018


PARENT = """
import sys, time
from trustchain_lab.link import Link, LinkProxy
with LinkProxy(sys.argv[1], Link(0.001)) as p:
    print(p.pid, flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_the_child_is_gone_when_its_parent_is_interrupted_or_killed(real_redis_url, sig):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, real_redis_url],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert select.select([parent.stdout], [], [], WAIT)[0], "the parent did not start"
        child = int(parent.stdout.readline())
        parent.send_signal(sig)  # SIGINT: __exit__ stops the child; SIGKILL: stdin EOF does
        parent.wait(WAIT)
        assert gone(child)
    finally:
        parent.kill()
        parent.wait(WAIT)
        parent.stdout.close()


def test_the_cost_benchmark_reports_p50s_with_intervals_and_the_difference(real_redis_url):
    from benchmarks.link_cost import measure

    figures = measure(real_redis_url, n=200)
    for name in ("direct_p50_s", "proxy_p50_s", "added_p50_s"):
        assert figures[f"{name}_lo"] <= figures[name] <= figures[f"{name}_hi"]
    assert figures["added_p50_s"] == figures["proxy_p50_s"] - figures["direct_p50_s"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("unix:///tmp/redis.sock", r"needs a redis:// or rediss:// URL"),
        ("redis://10.1.2.3:6379/0", r"only reaches a Redis on loopback"),
        ("redis://127.0.0.1:port/0", r"malformed Redis URL"),
    ],
)
def test_a_bad_target_url_is_a_one_line_value_error(url, message):
    with pytest.raises(ValueError, match=message) as err:
        LinkProxy(url, Link())
    assert "\n" not in str(err.value)


def test_the_command_line_refuses_a_bad_link_and_a_remote_target(capsys):
    for argv in (["--to", "127.0.0.1:1", "--delay", "-1"], ["--to", "10.0.0.1:6379"]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "Link.delay must be >= 0" in err and "only reaches loopback" in err


# --- tc netem, in a throw-away network namespace -----------------------------------------


def test_netem_available_answers_in_one_line():
    ok, reason = netem_available()
    assert isinstance(ok, bool) and reason and "\n" not in reason


def _namespaces() -> str:
    return subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, timeout=WAIT, check=True
    ).stdout


def _need_namespaces() -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if subprocess.run(["which", "ip"], capture_output=True, timeout=WAIT).returncode:
        pytest.skip("no `ip` on PATH")


def test_a_throwaway_namespace_is_deleted_on_an_error():
    _need_namespaces()
    with pytest.raises(KeyError), throwaway_namespace() as ns:
        assert ns in _namespaces()
        raise KeyError(ns)
    assert ns not in _namespaces()


ECHO_RTT = """
import socket, threading, time
srv = socket.create_server(("127.0.0.1", 0))
def serve():
    c, _ = srv.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while b := c.recv(64):
        c.sendall(b)
threading.Thread(target=serve, daemon=True).start()
cli = socket.create_connection(srv.getsockname(), timeout=10)
cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtts = []
for _ in range(5):
    t = time.perf_counter()
    cli.sendall(b"x")
    cli.recv(1)
    rtts.append(time.perf_counter() - t)
print(min(rtts))
"""


def test_netem_delays_a_round_trip_inside_a_namespace():
    ok, reason = netem_available()
    if not ok:
        pytest.skip(reason)
    delay = 0.02
    with throwaway_namespace() as ns:

        def run(*argv: str) -> str:
            return subprocess.run(
                ["ip", "netns", "exec", ns, *argv],
                capture_output=True,
                text=True,
                timeout=WAIT,
                check=True,
            ).stdout

        run("ip", "link", "set", "lo", "up")
        run(*netem_command("lo", Link(delay)))
        assert "netem" in run("tc", "qdisc", "show", "dev", "lo")
        rtt = float(run(sys.executable, "-c", ECHO_RTT))
    assert rtt >= 2 * delay  # out through lo and back through lo: two delays
    assert ns not in _namespaces()
