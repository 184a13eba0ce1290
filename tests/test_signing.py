"""Signed messages: forged, tampered, foreign or replayed ones never reach an answer."""

import asyncio

import pytest

from trustchain_lab.chain import Dispatcher, Keys, PartialMessage, Step, Worker
from trustchain_lab.chain.messages import encode_partial
from trustchain_lab.chain.signing import SignatureError, Signer

SECRET = "a shared secret of the lab"
BODY = b'{"type":"partial"}'


def test_a_signature_covers_the_exact_bytes_and_the_time():
    signer = Signer(SECRET, window=30)
    signed = signer.sign(BODY, now=1000.0)
    assert signer.verify(signed, now=1010.0) == BODY
    with pytest.raises(SignatureError, match="bad signature"):
        signer.verify(signed.replace(b"partial", b"task"), now=1010.0)
    with pytest.raises(SignatureError, match="bad signature"):
        Signer("another secret, same length").verify(signed, now=1010.0)
    with pytest.raises(SignatureError, match="outside the 30 s window"):
        signer.verify(signed, now=1031.0)
    with pytest.raises(SignatureError, match="not signed"):
        signer.verify(BODY)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Signer("short")


async def started(make_client, *, secret=SECRET, work=None):
    keys = Keys("s")
    steps: list[Step] = []
    d = Dispatcher(make_client(), name="gw", keys=keys, secret=secret, observer=steps.append)
    w = Worker(make_client(), name="w", keys=keys, secret=secret, observer=steps.append)
    w.on("Foo", work or (lambda x: asyncio.sleep(0.2, result="genuine")))
    await d.start()
    await w.start()
    return d, w, steps


async def stop(*endpoints):
    for e in endpoints:
        client = e.redis
        await e.close()
        await client.flushdb()
        await client.aclose()


async def test_forged_and_foreign_partials_are_rejected_and_never_answer(make_client):
    d, w, steps = await started(make_client)
    try:
        job = asyncio.create_task(d.dispatch("Foo", probe_window=1, deadline=5))
        await asyncio.sleep(0.05)
        rid = next(s.request_id for s in steps if s.kind == "dispatch")
        forged = encode_partial(PartialMessage(rid, "w", ok=True, result="forged"))
        foreign = Signer("somebody else's secret").sign(forged)
        for data in (forged, foreign):
            await d.redis.publish("s:reply:gw", data)
        final = await job
        assert final.results == ["genuine"] and d.rejected == 2
    finally:
        await stop(d, w)


async def test_a_replayed_task_is_not_worked_twice(make_client):
    calls = []

    async def work(x):
        calls.append(x.request_id)
        return "once"

    d, w, _ = await started(make_client, work=work)
    spy = d.redis.pubsub()
    await spy.subscribe("s:task:Foo")
    try:
        final = await d.dispatch("Foo", probe_window=1, deadline=5)
        assert final.results == ["once"]
        task = None
        for _ in range(50):  # bounded: the spy has the task within a few reads
            msg = await spy.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if msg is not None:
                task = msg["data"]
                break
        assert task is not None
        await d.redis.publish("s:task:Foo", task)  # the very same signed bytes, again
        await asyncio.sleep(0.2)
        assert calls == [final.request_id] and w.replayed == 1
    finally:
        await spy.aclose()
        await stop(d, w)


async def test_a_worker_without_the_secret_cannot_take_part(make_client):
    keys = Keys("s")
    d = Dispatcher(make_client(), name="gw", keys=keys, secret=SECRET)
    outsider = Worker(make_client(), name="outsider", keys=keys)  # no secret
    outsider.on("Foo", lambda x: asyncio.sleep(0, result="unsigned"))
    await d.start()
    await outsider.start()
    try:
        final = await d.dispatch("Foo", probe_window=0.2, deadline=5)
        assert final.reason == "probe_empty" and outsider.malformed == 1
    finally:
        await stop(d, outsider)
