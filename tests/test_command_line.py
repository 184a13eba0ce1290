"""The pipelined command line: replies in order, callers that give up skipped, a broken
connection reconnected, a dead server an error (never a hang)."""

import asyncio
import contextlib

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from trustchain_lab.chain import CommandLine
from trustchain_lab.chain.line import HIGH_WATER, RETRIES


@pytest.fixture
async def line(make_client):
    """A command line on a fresh client of each backend; closed and emptied after."""
    client = make_client()
    line = CommandLine(client.connection_pool)
    yield line
    await line.close()
    await client.flushdb()
    await client.aclose()


async def test_concurrent_commands_get_their_own_replies_in_one_connection(line):
    replies = await asyncio.gather(*(line.execute("ECHO", f"m{i}") for i in range(300)))
    assert replies == [f"m{i}".encode() for i in range(300)]
    assert await line.execute("RPUSH", "cl:list", "a", "b") == 2
    assert await line.execute("LRANGE", "cl:list", 0, -1) == [b"a", b"b"]


async def test_an_error_reply_fails_its_caller_only(line):
    await line.execute("SET", "cl:s", "x")
    results = await asyncio.gather(
        line.execute("ECHO", "before"),
        line.execute("LPUSH", "cl:s", "y"),  # WRONGTYPE
        line.execute("ECHO", "after"),
        return_exceptions=True,
    )
    assert results[0] == b"before" and results[2] == b"after"
    assert isinstance(results[1], ResponseError)


async def test_a_caller_that_gives_up_leaves_the_others_in_step(line):
    doomed = asyncio.ensure_future(line.execute("ECHO", "gone"))
    kept = asyncio.ensure_future(line.execute("ECHO", "kept"))
    await asyncio.sleep(0)
    doomed.cancel()
    assert await kept == b"kept"
    assert await line.execute("ECHO", "next") == b"next"
    assert doomed.cancelled() or doomed.result() == b"gone"  # fakeredis may answer first


async def test_a_caller_cancelled_while_it_reads_hands_the_others_on(server):
    """The caller that sends a batch reads its replies; cancelled mid-read (Redis is
    stalled), the commands queued behind it still get their own replies."""
    client = Redis.from_url(server.url)
    line = CommandLine(client.connection_pool)
    try:
        assert await line.execute("ECHO", "warm") == b"warm"
        server.pause()
        reader = asyncio.ensure_future(line.execute("ECHO", "first"))
        await asyncio.sleep(0.05)  # it has sent and waits for the reply
        queued = asyncio.ensure_future(line.execute("ECHO", "second"))
        await asyncio.sleep(0.05)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        server.resume()
        assert await asyncio.wait_for(queued, 10) == b"second"
        assert reader.cancelled()
        assert await line.execute("ECHO", "after") == b"after"
    finally:
        server.resume()
        await line.close()
        await client.aclose()


BIG = b"v" * (256 << 10)  # 120 of them: 30 MiB, far more than the socket buffers take
CAP = HIGH_WATER + len(BIG) + 100  # unsent bytes: HIGH_WATER and one command at most


@contextlib.asynccontextmanager
async def stalled(server, *, socket_timeout=None, retries=RETRIES):
    """A warmed command line on ``server``, Redis then paused, and 120 callers issuing
    ``BIG`` SETs; yields (line, jobs, peak) where ``peak[0]`` is the largest backlog seen
    after any write. Resumed, emptied and closed after."""
    client = Redis.from_url(server.url, socket_timeout=socket_timeout)
    line = CommandLine(client.connection_pool, retries=retries)
    peak = [0]
    write = line._write

    def write_and_measure(commands):
        write(commands)
        peak[0] = max(peak[0], line._backlog())

    line._write = write_and_measure
    try:
        assert await line.execute("ECHO", "warm") == b"warm"
        server.pause()
        jobs = [asyncio.ensure_future(line.execute("SET", f"cl:big{i}", BIG)) for i in range(120)]
        await asyncio.sleep(0.2)  # every job has written, or waits for room
        assert len(line._sent) < len(jobs)  # the rest wait: else all would be in memory
        yield line, jobs, peak
    finally:
        server.resume()
        await line.close()
        await client.flushdb()
        await client.aclose()


async def test_a_stalled_server_cannot_make_unsent_commands_pile_up(server):
    """Redis stalled while callers keep issuing 256 KiB commands: what the socket has not
    taken stays within HIGH_WATER and one command, the others wait their turn; a caller
    that gives up while waiting sends nothing; once Redis resumes, every other command
    gets its own reply."""
    async with stalled(server) as (line, jobs, peak):
        assert 0 < line._backlog() <= CAP
        jobs[-1].cancel()  # gives up while it waits
        server.resume()
        replies = await asyncio.wait_for(asyncio.gather(*jobs[:-1]), 30)
        assert replies == [b"OK"] * (len(jobs) - 1)
        assert await line.execute("GET", "cl:big0") == BIG
        assert await line.execute("EXISTS", f"cl:big{len(jobs) - 1}") == 0  # never sent
        assert peak[0] <= CAP  # also as Redis drained it


async def test_commands_queued_over_a_reconnection_go_out_within_high_water(server):
    """Callers waiting for room when the connection is dropped queue for the next one; it
    gets them as it takes them, never more than HIGH_WATER and one command unsent."""
    async with stalled(server) as (line, jobs, peak):
        await line.disconnect()  # all unanswered: queued for the next connection
        await asyncio.sleep(0.2)
        server.resume()
        replies = await asyncio.wait_for(asyncio.gather(*jobs), 30)
        assert replies == [b"OK"] * len(jobs)
        assert peak[0] <= CAP


@pytest.mark.parametrize("how", ["socket timeout", "close"])
async def test_callers_waiting_for_room_hear_of_a_dropped_connection(server, how):
    """Redis stays stalled: when the connection is given up (its reads time out, or the
    line is closed), the callers waiting for room fail with ConnectionError, at once."""
    async with stalled(server, socket_timeout=0.5, retries=1) as (line, jobs, _):
        if how == "close":
            await line.close()
        done, pending = await asyncio.wait(jobs, timeout=20)  # Redis is still stalled
        assert not pending, f"{len(pending)} callers still wait"
        errors = [j.exception() for j in done]
        assert all(isinstance(e, RedisConnectionError) for e in errors), errors[:3]


async def test_commands_go_on_after_a_restart_and_fail_while_redis_is_down(server):
    client = Redis.from_url(server.url)
    line = CommandLine(client.connection_pool)
    try:
        assert await line.execute("ECHO", "x") == b"x"
        server.kill()
        server.restart()
        assert await line.execute("ECHO", "again") == b"again"  # reconnected, sent again
        server.kill()
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(line.execute("ECHO", "nobody"), 10)
    finally:
        await line.close()
        await client.aclose()


async def test_a_closed_line_refuses_commands(line):
    await line.execute("ECHO", "x")
    await line.close()
    with pytest.raises(RedisConnectionError, match="closed"):
        await line.execute("ECHO", "y")


async def test_a_command_that_cannot_be_encoded_fails_alone(line):
    first = asyncio.ensure_future(line.execute("ECHO", "leader"))
    await asyncio.sleep(0)  # it leads; the next three go out as one batch
    results = await asyncio.gather(
        line.execute("ECHO", "honest-1"),
        line.execute("SET", "cl:k\udc80", "x"),  # a lone surrogate: no UTF-8 for it
        line.execute("ECHO", "honest-2"),
        return_exceptions=True,
    )
    assert await first == b"leader"
    assert results[0] == b"honest-1" and results[2] == b"honest-2"
    assert isinstance(results[1], UnicodeEncodeError)


SLOW = (  # Redis is busy for 0.3 s
    "local t0 = redis.call('TIME') repeat local t = redis.call('TIME') "
    "until (t[1] - t0[1]) * 1e6 + (t[2] - t0[2]) > 300000 return 'slow'"
)


async def test_a_reader_that_gives_up_never_makes_others_commands_run_twice(server):
    """The leader's batch carries another caller's INCR; the leader is cancelled while
    reading: the line's task reads the rest on the same connection, sends nothing again."""
    client = Redis.from_url(server.url)
    line = CommandLine(client.connection_pool)
    try:
        assert await line.execute("ECHO", "warm") == b"warm"
        leader = asyncio.ensure_future(line.execute("EVAL", SLOW, 0))
        await asyncio.sleep(0.05)
        await line.disconnect()  # the leader's batch is sent again, with the INCR
        other = asyncio.ensure_future(line.execute("INCR", "cl:n"))
        await asyncio.sleep(0.4)
        leader.cancel()
        await asyncio.gather(leader, return_exceptions=True)
        assert await asyncio.wait_for(other, 10) == 1
        assert await client.get("cl:n") == b"1"
    finally:
        await line.close()
        await client.flushdb()
        await client.aclose()


async def test_a_command_goes_out_while_another_is_outstanding(server):
    """On a slow link, a command issued while another's reply is on its way is written at
    once: it takes one round trip, not the rest of the other's plus its own."""
    import time
    import urllib.parse

    from trustchain_lab.link import DelayProxy, Link

    port = urllib.parse.urlsplit(server.url).port
    async with DelayProxy(("127.0.0.1", port), Link(0.05)) as proxy:
        client = Redis.from_url(f"redis://127.0.0.1:{proxy.port}/0")
        line = CommandLine(client.connection_pool)
        try:
            assert await line.execute("ECHO", "warm") == b"warm"  # connected

            async def timed(*args):
                t = time.perf_counter()
                await line.execute(*args)
                return time.perf_counter() - t

            first = asyncio.ensure_future(timed("ECHO", "a"))
            await asyncio.sleep(0.02)
            second = await timed("ECHO", "b")
            # written at once: one round trip (~0.1 s), like the first; waiting for the
            # first's reply would make it ~0.08 + 0.1 s
            assert second < 1.4 * await first
        finally:
            await line.close()
            await client.aclose()


async def test_a_server_that_refuses_the_connection_setup_fails_the_command(server):
    """SELECT of a database that does not exist: an error, not reconnections for ever."""
    client = Redis.from_url(server.url.rsplit("/", 1)[0] + "/99")
    line = CommandLine(client.connection_pool)
    try:
        with pytest.raises(ResponseError):
            await asyncio.wait_for(line.execute("PING"), 10)
    finally:
        await line.close()
        await client.aclose()
