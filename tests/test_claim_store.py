"""The Lua claim scripts do what ``protocol.MemoryClaims`` does, on both backends."""

import random

from trustchain_lab.chain import ClaimStore, CommandLine, Keys
from trustchain_lab.protocol import MemoryClaims

TTL = 30


async def test_scripts_match_the_memory_semantics_step_for_step(make_client):
    client = make_client()
    keys = Keys("cs")
    line = CommandLine(client.connection_pool)
    store = ClaimStore(line, keys)
    memory = MemoryClaims()
    rng = random.Random(7)
    requests, workers = ["r0", "r1", "r2"], ["w0", "w1", "w2"]
    try:
        for step in range(600):
            rid, worker, flag = rng.choice(requests), rng.choice(workers), rng.random() < 0.5
            op = rng.choice(["open", "claim", "claim", "pop", "pop", "length", "close"])
            if op == "open":
                await store.open("T", rid, TTL)
                got = want = memory.open(rid)
            elif op == "claim":
                got = await store.claim("T", rid, worker, TTL, check_open=flag)
                want = memory.claim(rid, worker, flag)
            elif op == "pop":
                got = await store.pop("T", rid, worker, seal=flag)
                want = memory.pop(rid, worker, flag)
            elif op == "length":
                got = await store.length("T", rid, seal=flag)
                want = memory.length(rid, flag)
            else:
                got, want = await store.close("T", rid), memory.close(rid)
            assert got == want, (step, op, rid, worker, flag)
        for rid in requests:
            on_list = await client.lrange(keys.claim_list("T", rid), 0, -1)
            assert [w.decode() for w in on_list] == memory.lists.get(rid, [])
            assert bool(await client.exists(keys.marker("T", rid))) == (rid in memory.opened)
    finally:
        await line.close()
        await client.flushdb()
        await client.aclose()


async def test_claims_and_markers_carry_their_ttl_and_publishing_opens(make_client):
    client = make_client()
    keys = Keys("cs")
    line = CommandLine(client.connection_pool)
    store = ClaimStore(line, keys)
    try:
        assert await store.open_and_publish("T", "r", "cs:task:T", b"x", TTL) == 0
        assert 0 < await client.ttl(keys.marker("T", "r")) <= TTL
        assert await store.claim("T", "r", "w", TTL, check_open=True)
        assert 0 < await client.ttl(keys.claim_list("T", "r")) <= TTL
        assert await store.pop("T", "r", "w", seal=True) == 0
        assert await client.exists(keys.claim_list("T", "r"), keys.marker("T", "r")) == 0
        assert not await store.claim("T", "r", "late", TTL, check_open=True)
    finally:
        await line.close()
        await client.flushdb()
        await client.aclose()
