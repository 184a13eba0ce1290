"""Faults injected on a private redis-server that each test kills, pauses or restarts:
an outage gives an explicit error or reason, never a plausible-looking answer."""

import asyncio
import contextlib

import pytest

from tests.conftest import need_redis_server
from tests.test_chain import together
from trustchain_lab.chain import Dispatcher, Keys, Reason, Step, Unavailable, Worker

BOUND = 15.0  # seconds any wait in these tests may take before it fails


async def wait_until(predicate, what: str) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + BOUND
    while not predicate():
        assert loop.time() < give_up, f"not within {BOUND} s: {what}"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def endpoints(url: str, work, *, observer=None):
    keys = Keys("f")
    d = Dispatcher(url, name="gw", keys=keys, observer=observer)
    w = Worker(url, name="w", keys=keys, observer=observer)
    w.on("Foo", work)
    await d.start()
    await w.start()
    try:
        yield d, w
    finally:
        async with asyncio.timeout(BOUND):  # close() never raises, nor hangs
            await w.close()
            await d.close()


async def answer(x):
    return x.payload


async def test_a_restart_gives_explicit_errors_then_the_same_endpoints_serve_again(server):
    async with endpoints(server.url, answer) as (d, w):
        assert (await d.dispatch("Foo", 1, deadline=5)).results == [1]
        server.kill()
        with pytest.raises(Unavailable):
            async with asyncio.timeout(BOUND):
                await d.dispatch("Foo", 2, deadline=5)
        await wait_until(lambda: not d.ready, "the dispatcher says it is not listening")
        with pytest.raises(Unavailable, match="not listening"):
            await d.dispatch("Foo", 3, deadline=5)
        server.restart()
        await wait_until(lambda: d.ready and w.ready, "both listen again")
        final = await d.dispatch("Foo", 4, deadline=5)
        assert final.reason == Reason.CLAIMS_DRAINED and final.results == [4]
        assert d.gaps >= 1 and w.gaps >= 1


async def test_a_request_in_flight_during_a_restart_is_never_answered_as_if_nothing_happened(
    server,
):
    steps: list[Step] = []

    async def slow(x):
        await asyncio.sleep(0.5)
        return x.payload

    async with endpoints(server.url, slow, observer=steps.append) as (d, _):
        job = asyncio.create_task(d.dispatch("Foo", 1, probe_window=0.2, deadline=10))
        await wait_until(lambda: any(s.kind == "claim" for s in steps), "the worker claimed")
        server.kill()
        server.restart()  # back at once, empty: the claim is gone
        try:
            async with asyncio.timeout(BOUND):
                final = await job
        except Unavailable:
            return  # an explicit error: fine
        assert final.reason == Reason.LOST_CLAIMS, final  # never claims_drained/probe_empty


async def test_claims_that_vanish_end_the_request_with_lost_claims(make_client):
    release = asyncio.Event()
    steps: list[Step] = []

    async def held(x):
        await release.wait()
        return "late"

    client = make_client()
    keys = Keys("f")
    d = Dispatcher(client, name="gw", keys=keys, observer=steps.append)
    w = Worker(make_client(), name="w", keys=keys, observer=steps.append)
    w.on("Foo", held)
    await d.start()
    await w.start()
    try:
        job = asyncio.create_task(d.dispatch("Foo", probe_window=5, deadline=10))
        await wait_until(lambda: any(s.kind == "claim" for s in steps), "the worker claimed")
        await client.flushdb()  # what a restart without persistence does to our keys
        release.set()
        final = await job
        assert final.reason == Reason.LOST_CLAIMS and final.results == ["late"]
    finally:
        release.set()
        await w.close()
        await d.close()
        await client.flushdb()
        await client.aclose()


async def test_a_worker_that_claims_and_never_replies_is_named_at_the_deadline(make_client):
    keys = Keys("f")
    clients = [make_client(), make_client(), make_client()]
    d = Dispatcher(clients[0], name="gw", keys=keys)
    alive, dead = (
        Worker(clients[1], name="alive", keys=keys),
        Worker(clients[2], name="dead", keys=keys),
    )
    both = together(2)  # the answer waits for the dead worker's claim: no seed race
    alive.on("Foo", both(answer))
    dead.on("Foo", both(lambda x: asyncio.Event().wait()))  # claims, then never answers
    for e in (d, alive, dead):
        await e.start()
    try:
        final = await d.dispatch("Foo", "x", probe_window=0.1, deadline=0.5)
        assert final.reason == Reason.DEADLINE
        assert final.results == ["x"] and final.missing == ("dead",)
        assert await clients[0].keys("f:*") == []  # the list was read, then deleted
    finally:
        for e in (dead, alive, d):
            await e.close()
        for c in clients:
            await c.aclose()


async def test_a_stalled_redis_cannot_hold_the_answer_past_the_deadline(server):
    steps: list[Step] = []

    async def late(x):
        await asyncio.sleep(0.3)
        return "late"

    keys = Keys("f")
    d = Dispatcher(server.url, name="gw", keys=keys, observer=steps.append)
    fast, slow = (
        Worker(server.url, name="fast", keys=keys),
        Worker(server.url, name="slow", keys=keys),
    )
    both = together(2)  # the fast answer waits for the slow claim: no seed race
    fast.on("Foo", both(answer))
    slow.on("Foo", both(late))
    for e in (d, fast, slow):
        await e.start()
    resumed = asyncio.Event()

    async def resume_later() -> None:  # long after the deadline (1 s) plus the clean-up bound
        await asyncio.sleep(4.0)
        server.resume()
        resumed.set()

    try:
        job = asyncio.create_task(d.dispatch("Foo", "x", probe_window=0.9, deadline=1.0))
        await wait_until(
            lambda: any(s.kind == "partial_received" for s in steps), "the fast reply arrived"
        )
        server.pause()  # the slow reply, and perhaps the pop, now wait for a stalled Redis
        resuming = asyncio.create_task(resume_later())
        async with asyncio.timeout(BOUND):
            final = await job
        assert not resumed.is_set(), "the answer waited for Redis"
        assert final.reason == Reason.DEADLINE and final.results == ["x"]  # what was in
        await resuming
    finally:
        server.resume()
        for e in (slow, fast, d):
            async with asyncio.timeout(BOUND):
                await e.close()


async def test_a_stall_during_the_broadcast_does_not_stretch_the_deadline(server):
    """The deadline counts from the dispatch, not from when a slow broadcast returned."""

    async def slow(x):
        await asyncio.sleep(30)  # the deadline must end the request

    keys = Keys("f")
    d, w = Dispatcher(server.url, name="gw", keys=keys), Worker(server.url, name="w", keys=keys)
    w.on("Foo", slow)
    for e in (d, w):
        await e.start()
    late = asyncio.Event()

    async def stall_then_flag() -> None:
        server.pause()
        await asyncio.sleep(0.8)  # the broadcast returns at 0.8 s of a 1.0 s deadline
        server.resume()
        await asyncio.sleep(0.7)  # 1.5 s after the dispatch: a stretched deadline ends at
        late.set()  # 0.8 + 1.0 = 1.8 s, a hard one at 1.0 s

    try:
        flag = asyncio.create_task(stall_then_flag())
        await asyncio.sleep(0.05)
        async with asyncio.timeout(BOUND):
            final = await d.dispatch("Foo", probe_window=0.5, deadline=1.0)
        assert not late.is_set(), "the deadline was stretched by the stalled broadcast"
        assert final.reason == Reason.DEADLINE and final.missing == ("w",)
        await flag
    finally:
        server.resume()
        for e in (w, d):
            async with asyncio.timeout(BOUND):
                await e.close()


async def test_closing_with_redis_gone_neither_raises_nor_hangs(server):
    async with endpoints(server.url, answer) as (d, w):
        assert (await d.dispatch("Foo", 1, deadline=5)).results == [1]
        server.kill()
    assert not d.ready and not w.ready


@pytest.mark.parametrize(
    "fault", ["restart, down 0 s", "worker dies after claiming", "junk claims"]
)
def test_under_load_a_fault_gives_no_wrong_and_no_hung_answer(fault):
    need_redis_server()
    from benchmarks.faults import run_fault

    row = asyncio.run(run_fault(fault))
    assert row["correct"] > 0 and row["recovery_s"] is not None
    assert (row["wrong_answers"], row["hung"], row["keys_without_ttl"]) == (0, 0, 0), row
    if fault in ("worker dies after claiming", "junk claims"):  # the deadline names who
        # claimed and never answered
        assert row["deadline_named_missing"] == row["explicit_errors"] > 0


@contextlib.asynccontextmanager
async def answering_workers(make_client, workers: int, **dispatcher_options):
    """A started dispatcher and ``workers`` workers that answer with the payload, each on a
    fresh client, all closed (with their clients) after."""
    keys = Keys("f")
    clients = [make_client() for _ in range(workers + 1)]
    d = Dispatcher(clients[0], name="gw", keys=keys, **dispatcher_options)
    ws = [Worker(c, name=f"w{k}", keys=keys) for k, c in enumerate(clients[1:])]
    for w in ws:
        w.on("Foo", answer)
    for e in (d, *ws):
        await e.start()
    try:
        yield d, ws
    finally:
        for e in (*ws, d):
            await e.close()
        for c in clients:
            await c.aclose()


async def test_a_listener_that_missed_the_broadcast_makes_the_answer_explicit(make_client):
    async with answering_workers(make_client, 2, listener_memory=60) as (d, ws):
        assert len((await d.dispatch("Foo", 1, probe_window=0.3, deadline=5)).results) == 2
        await ws[1].close_reader()  # deaf, as after Redis dropped its subscription
        final = await d.dispatch("Foo", 2, probe_window=0.3, deadline=5)
        assert final.reason == Reason.MISSED_BROADCAST and final.results == [2]


async def test_a_drop_after_a_quiet_spell_is_not_taken_for_nobody(make_client):
    """No broadcast within listener_memory: compare with the last one, don't trust blindly."""
    async with answering_workers(make_client, 2, listener_memory=0.2) as (d, ws):
        assert len((await d.dispatch("Foo", 1, probe_window=0.3, deadline=5)).results) == 2
        await asyncio.sleep(0.3)  # quiet longer than the memory
        for w in ws:
            await w.close_reader()  # every worker deaf, as after a 40 MB publish
        final = await d.dispatch("Foo", 2, probe_window=0.3, deadline=5)
        assert final.reason == Reason.MISSED_BROADCAST and final.results == []


def test_a_reply_that_lands_with_the_deadline_gives_an_answer_not_an_error(server):
    """The partial is read in the same loop iteration as the request's timeout fires (the
    loop is busy across the deadline): the pop it queued is given up with the request, and
    the answer is explicit (found by a review: the pop used to run after abandon())."""
    import threading
    import time

    deadline, keys = 1.0, Keys("dl")
    started, stop, t0 = threading.Event(), threading.Event(), [0.0]

    def worker_thread() -> None:
        async def work(_request) -> str:  # reply 20 ms before the dispatcher's deadline
            await asyncio.sleep(max(0.0, t0[0] + deadline - 0.02 - time.monotonic()))
            return "ok"

        async def serve() -> None:
            w = Worker(server.url, name="w1", keys=keys)
            w.on("T", work)
            async with w:
                started.set()
                while not stop.is_set():
                    await asyncio.sleep(0.01)

        asyncio.run(serve())

    async def one() -> tuple:
        async with Dispatcher(server.url, keys=keys) as d:
            loop = asyncio.get_running_loop()
            t0[0] = time.monotonic()
            loop.call_later(deadline - 0.05, time.sleep, 0.15)  # busy across the deadline
            final = await asyncio.wait_for(d.dispatch("T", deadline=deadline), deadline + 5)
            return final.reason, len(final.partials)

    thread = threading.Thread(target=worker_thread)
    thread.start()
    try:
        assert started.wait(10)
        answers = [asyncio.run(one()) for _ in range(3)]
    finally:
        stop.set()
        thread.join(10)
    for reason, partials in answers:  # either the reply made it, or the deadline says so
        assert (reason, partials) in (
            (Reason.CLAIMS_DRAINED, 1),
            (Reason.DEADLINE, 1),
            (Reason.DEADLINE, 0),
        )
