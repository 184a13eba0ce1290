"""The reference implementation on fakeredis and on a private real redis-server."""

import asyncio
import contextlib

import pytest

from trustchain_lab.chain import (
    Dispatcher,
    Keys,
    Reason,
    Step,
    Worker,
)


@contextlib.asynccontextmanager
async def system(make_client, workers, *, observer=None):
    """A started dispatcher and workers on fresh clients, all closed (with clients) after;
    then Redis must hold no key of ours."""
    clients = []

    def client():
        clients.append(make_client())
        return clients[-1]

    keys = Keys("t")
    dispatcher = Dispatcher(client(), name="gw", keys=keys, observer=observer)
    ws = []
    for name, task, work, interested in workers:
        w = Worker(client(), name=name, keys=keys, observer=observer)
        w.on(task, work, interested=interested)
        ws.append(w)
    await dispatcher.start()
    for w in ws:
        await w.start()
    try:
        yield dispatcher, ws
    finally:
        for e in (dispatcher, *ws):
            await e.close()
        leftover = [k async for k in clients[0].scan_iter(match="t:*")]
        for c in clients:
            await c.aclose()
        assert leftover == [], "a finished request left keys of ours in Redis"


def result_of(name, delay=0.0):
    async def work(req):
        await asyncio.sleep(delay)
        return {"by": name, "echo": req.payload}

    return work


def together(n):
    """A wrapper for work functions: each waits until ``n`` workers have started work on the
    same request. Work starts only after a worker's claim is in, so no partial can drain the
    claim list while another claim is still on its way -- the seed's race, kept out of the
    tests that are not about it."""
    started: dict[str, int] = {}
    everyone: dict[str, asyncio.Event] = {}

    def wrap(work):
        async def waiting(req):
            rid = req.request_id
            started[rid] = started.get(rid, 0) + 1
            everyone.setdefault(rid, asyncio.Event())
            if started[rid] == n:
                everyone[rid].set()
            await everyone[rid].wait()
            return await work(req)

        return waiting

    return wrap


def yes(_):
    return True


def no(_):
    return False


async def test_claims_drain_to_a_complete_answer(make_client):
    steps: list[Step] = []
    workers = [
        ("a", "Foo", result_of("a", 0.01), yes),
        ("b", "Foo", result_of("b", 0.03), yes),
        ("c", "Foo", result_of("c"), no),
    ]
    async with system(make_client, workers, observer=steps.append) as (d, _):
        final = await d.dispatch("Foo", {"n": 1}, probe_window=0.5, deadline=5)
    assert final.reason == Reason.CLAIMS_DRAINED
    assert sorted(r["by"] for r in final.results) == ["a", "b"]
    assert all(r["echo"] == {"n": 1} for r in final.results) and not final.empty
    pops = [s.value for s in steps if s.kind == "pop"]
    assert pops == [1, 0]
    kinds_a = [s.kind for s in steps if s.actor == "a"]
    assert kinds_a == ["deliver", "interest", "claim", "work_start", "work_end", "partial_sent"]


async def test_nobody_interested_answers_empty_at_the_probe(make_client):
    async with system(make_client, [("c", "Foo", result_of("c"), no)]) as (d, _):
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        final = await d.dispatch("Foo", probe_window=0.2, deadline=5)
        waited = loop.time() - t0
    assert final.reason == Reason.PROBE_EMPTY and final.empty and final.partials == ()
    assert waited >= 0.2


async def test_a_claimer_that_never_answers_ends_at_the_deadline(make_client):
    async def hang(req):
        await asyncio.Event().wait()

    async with system(make_client, [("h", "Foo", hang, yes)]) as (d, (w,)):
        final = await d.dispatch("Foo", probe_window=0.05, deadline=0.3)
        assert final.reason == Reason.DEADLINE and final.partials == ()
        assert len(w._in_flight) == 1
    assert not w._in_flight  # close() cancelled it
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []


async def test_errors_in_work_become_error_partials(make_client):
    async def boom(req):
        raise RuntimeError("disk on fire")

    async def not_json(req):
        return {1, 2}

    both = together(2)
    workers = [("x", "Foo", both(boom), yes), ("y", "Foo", both(not_json), yes)]
    async with system(make_client, workers) as (d, ws):
        final = await d.dispatch("Foo", probe_window=0.5, deadline=5)
    assert final.reason == Reason.CLAIMS_DRAINED and final.results == []
    errors = {p.worker: p.error for p in final.errors}
    assert errors["x"] == "RuntimeError: disk on fire"
    assert "JSON" in errors["y"]
    assert sum(w.handler_errors for w in ws) == 2


async def test_an_interest_rule_that_raises_does_not_claim(make_client):
    def bad(_):
        raise KeyError("x")

    async with system(make_client, [("x", "Foo", result_of("x"), bad)]) as (d, (w,)):
        final = await d.dispatch("Foo", probe_window=0.1, deadline=5)
    assert final.reason == Reason.PROBE_EMPTY and w.handler_errors == 1


async def test_malformed_messages_are_counted_and_survived(make_client):
    async with system(make_client, [("a", "Foo", result_of("a"), yes)]) as (d, (w,)):
        for junk in (b"not json", b"[]", b'{"type":"task","v":99}', b'{"type":"partial","v":1}'):
            await d.redis.publish("t:task:Foo", junk)
            await d.redis.publish("t:reply:gw", junk)
        await d.redis.publish(
            "t:reply:gw",
            b'{"type":"partial","v":2,"request_id":"zz","worker":"q","ok":true,"interested":true}',
        )
        final = await d.dispatch("Foo", probe_window=0.5, deadline=5)
        assert final.reason == Reason.CLAIMS_DRAINED and len(final.results) == 1
        assert w.malformed == 4 and d.malformed == 4 and d.late_partials == 1


async def test_bad_names_and_payloads_are_refused_before_anything_is_sent(make_client):
    steps: list[Step] = []
    async with system(make_client, [("a", "Foo", result_of("a"), yes)], observer=steps.append) as (
        d,
        _,
    ):
        with pytest.raises(TypeError, match="JSON"):
            await d.dispatch("Foo", {"when": object()})
        for bad in ("", "Foo Bar", "Fo*", "x" * 200):
            with pytest.raises(ValueError):
                await d.dispatch(bad)
        with pytest.raises(ValueError, match="probe_window"):
            await d.dispatch("Foo", probe_window=0)
        with pytest.raises(ValueError, match="deadline"):
            await d.dispatch("Foo", deadline=-1)
        await asyncio.sleep(0.1)
        assert steps == []  # nothing was dispatched, nothing delivered
        final = await d.dispatch("Foo", probe_window=0.5, deadline=5)
        assert final.reason == Reason.CLAIMS_DRAINED


async def test_many_requests_in_flight_each_get_their_own_partials(make_client):
    every = together(4)
    workers = [(f"w{k}", "Foo", every(result_of(f"w{k}", 0.002 * k)), yes) for k in range(4)]
    async with system(make_client, workers) as (d, _):
        finals = await asyncio.gather(
            *(d.dispatch("Foo", {"i": i}, probe_window=1, deadline=10) for i in range(60))
        )
    for i, final in enumerate(finals):
        assert final.reason == Reason.CLAIMS_DRAINED
        assert sorted(r["by"] for r in final.results) == ["w0", "w1", "w2", "w3"]
        assert {r["echo"]["i"] for r in final.results} == {i}
    assert len({f.request_id for f in finals}) == 60


async def test_a_worker_can_dispatch_a_subtask_and_wait_for_it(make_client):
    sub_client = make_client()
    sub = Dispatcher(sub_client, name="s1", keys=Keys("t"))

    async def s1_work(req):
        inner = await sub.dispatch(
            "Bar", req.payload, probe_window=0.5, deadline=5, parent=req.request_id
        )
        return {"by": "s1", "bar": inner.results}

    both = together(2)  # the inner request has one claimer: no race to keep out there
    workers = [
        ("s1", "Foo", both(s1_work), yes),
        ("s2", "Foo", both(result_of("s2")), yes),
        ("s3", "Foo", result_of("s3"), no),
        ("s3b", "Bar", result_of("s3"), yes),
    ]
    await sub.start()
    try:
        async with system(make_client, workers) as (d, _):
            final = await d.dispatch("Foo", "x", probe_window=0.5, deadline=5)
    finally:
        await sub.close()
        await sub_client.aclose()
    by = {r["by"]: r for r in final.results}
    assert set(by) == {"s1", "s2"}
    assert by["s1"]["bar"] == [{"by": "s3", "echo": "x"}]


async def test_known_recipients_mode_waits_for_every_reply(make_client):
    workers = [("a", "Foo", result_of("a"), yes), ("b", "Foo", result_of("b"), no)]
    async with system(make_client, workers) as (d, _):
        final = await d.dispatch("Foo", variant="known", expect=2, deadline=5)
    assert final.reason == Reason.ALL_REPLIED and len(final.partials) == 2
    assert [r["by"] for r in final.results] == ["a"]


async def test_a_raising_observer_is_logged_not_fatal(make_client, caplog):
    def broken(step):
        raise ValueError("observer bug")

    async with system(make_client, [("a", "Foo", result_of("a"), yes)], observer=broken) as (d, _):
        final = await d.dispatch("Foo", probe_window=0.5, deadline=5)
    assert final.reason == Reason.CLAIMS_DRAINED
    assert "observer raised" in caplog.text


async def test_lifecycle_errors_are_clear(make_client):
    d = Dispatcher(make_client(), name="gw")
    with pytest.raises(RuntimeError, match="not started"):
        await d.dispatch("Foo")
    w = Worker(make_client(), name="w")
    with pytest.raises(RuntimeError, match="no handlers"):
        await w.start()
    with pytest.raises(ValueError, match="worker name"):
        Worker(make_client(), name="bad name")


async def test_a_claim_redis_refuses_is_counted_and_the_answer_says_so(make_client, caplog):
    """The command connection is dead (the bus still works): the interested worker cannot
    claim, says so with an error partial, and the answer is lost_claims, not probe_empty."""
    from redis.asyncio import Redis

    from trustchain_lab.chain import RedisBus
    from trustchain_lab.redis_server import free_port

    live, dead = make_client(), Redis(port=free_port(), socket_connect_timeout=0.5)
    w = Worker(dead, name="w", keys=Keys("t"), bus=RedisBus(live))
    w.on("Foo", result_of("w"))
    try:
        async with system(make_client, []) as (d, _):
            await w.start()
            # the window outlasts the dead client's retries: a failure that takes longer
            # than the probe window cannot be heard (see Worker's docstring)
            final = await d.dispatch("Foo", probe_window=5, deadline=10)
            await w.drain(5)
            await w.close()
    finally:
        await live.aclose()
        await dead.aclose()
    assert final.reason == Reason.LOST_CLAIMS
    assert [p.error.split(":")[0] for p in final.errors] == ["claim failed"]
    assert w.redis_errors == 1 and "claim on Foo" in caplog.text


async def test_ack_answers_at_once_when_the_broadcast_reaches_nobody(make_client):
    async with system(make_client, [("a", "Foo", result_of("a"), yes)]) as (d, _):
        final = await d.dispatch("Nobody", variant="ack", deadline=5)
    assert final.reason == Reason.NO_RECEIVERS and final.partials == () and final.empty


async def test_ack_waits_for_a_reply_or_a_decline_from_every_receiver(make_client):
    steps: list[Step] = []
    workers = [("a", "Foo", result_of("a", 0.02), yes), ("b", "Foo", result_of("b"), no)]
    async with system(make_client, workers, observer=steps.append) as (d, _):
        final = await d.dispatch("Foo", variant="ack", deadline=5)
    assert final.reason == Reason.ALL_REPLIED and len(final.partials) == 2
    assert [r["by"] for r in final.results] == ["a"]
    assert not [s for s in steps if s.kind in ("claim", "probe", "pop")]  # no claim list


async def test_sealed_refuses_a_claim_after_the_answer_and_the_worker_skips_the_work(make_client):
    steps: list[Step] = []
    calls = []

    async def late_interest(_):
        await asyncio.sleep(0.2)  # decides after the probe sealed the request
        return True

    async def work(req):
        calls.append(req.request_id)
        return "x"

    async with system(make_client, [("w", "Foo", work, late_interest)], observer=steps.append) as (
        d,
        (w,),
    ):
        final = await d.dispatch("Foo", variant="sealed", probe_window=0.05, deadline=5)
        assert await w.drain(5)
    assert final.reason == Reason.PROBE_EMPTY
    assert calls == []
    assert [s.kind for s in steps if s.actor == "w"][-1] == "claim_refused"


async def test_a_bad_variant_or_timing_is_refused_before_anything_is_sent(make_client):
    steps: list[Step] = []
    async with system(make_client, [("a", "Foo", result_of("a"), yes)], observer=steps.append) as (
        d,
        _,
    ):
        with pytest.raises(ValueError, match="unknown variant 'nope'; choose from seed"):
            await d.dispatch("Foo", variant="nope")
        with pytest.raises(ValueError, match="needs expect"):
            await d.dispatch("Foo", variant="known")
        with pytest.raises(ValueError, match="grace does not apply"):
            await d.dispatch("Foo", variant="ack", grace=0.1)
        await asyncio.sleep(0.05)
    assert steps == []
