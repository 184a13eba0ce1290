"""Hostile bytes on the bus: the decoder only ever says MessageError, endpoints survive."""

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_chain import result_of, system, yes
from trustchain_lab.chain import (
    Dispatcher,
    Keys,
    MessageError,
    PartialMessage,
    Step,
    TaskMessage,
    Worker,
)
from trustchain_lab.chain.messages import MAX_CLAIM_TTL, decode, encode_partial, encode_task

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=30,
)
FIELDS = (
    "type",
    "v",
    "task",
    "request_id",
    "reply_to",
    "variant",
    "claim_ttl",
    "parent",
    "worker",
    "ok",
    "interested",
    "error",
    "result",
    "payload",
)


def decodes_or_refuses(data) -> None:
    """A message of ours comes back, or MessageError; any other exception fails the test."""
    try:
        msg = decode(data)
    except MessageError:
        return
    assert isinstance(msg, TaskMessage | PartialMessage)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_message_error_only(data):
    decodes_or_refuses(data)


@settings(max_examples=400, deadline=None)
@given(
    st.fixed_dictionaries({}, optional={f: JSON for f in FIELDS}),
    st.sampled_from(["task", "partial"]),
    st.sampled_from([2, 1, "2"]),
)
def test_messages_of_ours_with_fuzzed_fields_decode_or_raise_message_error_only(obj, kind, v):
    decodes_or_refuses(json.dumps({**obj, "type": kind, "v": v}).encode())


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "RecursionError"),
        (b"x" * (1 << 20 + 1), "over the limit"),
        (
            json.dumps(
                {
                    "type": "task",
                    "v": 2,
                    "task": "T",
                    "request_id": "r",
                    "reply_to": "c",
                    "variant": "seed",
                    "claim_ttl": 2**62,
                }
            ).encode(),
            "claim_ttl",
        ),
        (
            json.dumps(
                {
                    "type": "task",
                    "v": 2,
                    "task": "T*",
                    "request_id": "r",
                    "reply_to": "c",
                    "variant": "seed",
                    "claim_ttl": 5,
                }
            ).encode(),
            "glob",
        ),
        (
            json.dumps(
                {
                    "type": "partial",
                    "v": 2,
                    "request_id": "r r",
                    "worker": "w",
                    "ok": True,
                    "interested": True,
                }
            ).encode(),
            "whitespace",
        ),
        (  # a lone surrogate: no key can hold it (it used to fail a whole batch of claims)
            json.dumps(
                {
                    "type": "task",
                    "v": 2,
                    "task": "T",
                    "request_id": "x\udc80",
                    "reply_to": "c",
                    "variant": "seed",
                    "claim_ttl": 5,
                }
            ).encode(),
            "UTF-8",
        ),
        (
            json.dumps(
                {
                    "type": "task",
                    "v": 2,
                    "task": "T",
                    "request_id": "r",
                    "reply_to": "c\udc80",
                    "variant": "seed",
                    "claim_ttl": 5,
                }
            ).encode(),
            "UTF-8",
        ),
    ],
)
def test_hostile_messages_are_refused_naming_why(data, why):
    with pytest.raises(MessageError, match=why):
        decode(data)
    assert MAX_CLAIM_TTL < 2**31


def test_messages_over_the_limit_are_refused_on_send():
    big = TaskMessage("T", "r", "c", payload="x" * 2000)
    with pytest.raises(ValueError, match="over the limit of 1,024"):
        encode_task(big, max_bytes=1024)
    with pytest.raises(ValueError, match="over the limit"):
        encode_partial(PartialMessage("r", "w", ok=True, result="y" * 2000), max_bytes=1024)


async def test_endpoints_survive_hostile_messages_and_keep_serving(make_client):
    workers = [("a", "Foo", result_of("a"), yes)]
    async with system(make_client, workers) as (d, (w,)):
        nested = b"[" * 100_000 + b"]" * 100_000
        huge = b"x" * (2 << 20)
        forged_reply_to = json.dumps(
            {
                "type": "task",
                "v": 2,
                "task": "Foo",
                "request_id": "r1",
                "reply_to": "elsewhere",
                "variant": "seed",
                "claim_ttl": 5,
                "payload": None,
            }
        ).encode()
        for channel in ("t:task:Foo", "t:reply:gw"):
            await d.redis.publish(channel, nested)
            await d.redis.publish(channel, huge)
        await d.redis.publish("t:task:Foo", forged_reply_to)
        final = await d.dispatch("Foo", probe_window=0.5, deadline=5)
        assert final.reason == "claims_drained" and len(final.results) == 1
        assert (w.oversized, d.oversized) == (1, 1)
        assert (w.malformed, d.malformed) == (2, 1)  # nested; nested and the forged reply_to


async def test_a_second_reply_of_one_worker_is_dropped_and_counted(make_client):
    steps: list[Step] = []

    async def slow(req):
        await asyncio.sleep(0.1)
        return "genuine"

    workers = [("a", "Foo", slow, yes), ("b", "Foo", result_of("b", 0.2), yes)]
    async with system(make_client, workers, observer=steps.append) as (d, _):
        job = asyncio.create_task(d.dispatch("Foo", probe_window=0.5, deadline=5))
        await asyncio.sleep(0.05)
        rid = next(s.request_id for s in steps if s.kind == "dispatch")
        forged = encode_partial(PartialMessage(rid, "a", ok=True, result="forged"))
        await d.redis.publish("t:reply:gw", forged)  # before a's genuine one
        final = await job
    # the forged copy took a's place (signatures are what stops that), but a's second
    # reply did not pop b's claim: the answer waited for b
    assert final.reason == "claims_drained" and len(final.partials) == 2
    assert d.duplicates == 1


@pytest.mark.parametrize(
    ("variant", "shed_reason"), [("seed", "claims_drained"), ("ack", "all_replied")]
)
async def test_a_full_worker_sheds_without_going_deaf(make_client, variant, shed_reason):
    release = asyncio.Event()

    async def blocked(req):
        await release.wait()
        return "done"

    clients = [make_client(), make_client()]
    keys = Keys("t")
    d = Dispatcher(clients[0], name="gw", keys=keys)
    w = Worker(clients[1], name="w", keys=keys, max_in_flight=1)
    w.on("Foo", blocked)
    await d.start()
    await w.start()
    try:
        first = asyncio.create_task(
            d.dispatch("Foo", variant=variant, probe_window=0.2, deadline=5)
        )
        await asyncio.sleep(0.05)
        second = await d.dispatch("Foo", variant=variant, probe_window=0.2, deadline=5)
        assert w.shed == 1
        if variant == "ack":  # every receiver answers: the shed one says why at once
            assert second.reason == shed_reason and "shed" in second.errors[0].error
        else:  # not claimed: the probe finds nobody
            assert second.reason == "probe_empty"
        release.set()
        assert (await first).results == ["done"]
    finally:
        release.set()
        for e in (d, w):
            await e.close()
        for c in clients:
            await c.flushdb()
            await c.aclose()
