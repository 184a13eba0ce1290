"""The Lua claim scripts do what ``protocol.MemoryClaims`` does, on both backends."""

import random

from trustchain_lab.chain import ClaimStore, Keys
from trustchain_lab.protocol import MemoryClaims

TTL = 30


async def test_scripts_match_the_memory_semantics_step_for_step(make_client):
    client = make_client()
    keys = Keys("cs")
    store = ClaimStore(client, keys)
    memory = MemoryClaims()
    rng = random.Random(7)
    requests = ["r0", "r1", "r2"]
    try:
        for step in range(400):
            rid, flag = rng.choice(requests), rng.random() < 0.5
            op = rng.choice(["claim", "claim", "pop", "length", "close"])
            if op == "claim":
                got = await store.claim("T", rid, f"w{step}", TTL, check_seal=flag)
                want = memory.claim(rid, flag)
            elif op == "pop":
                got = await store.pop("T", rid, seal=flag, ttl=TTL)
                want = memory.pop(rid, flag)
            elif op == "length":
                got = await store.length("T", rid, seal=flag, ttl=TTL)
                want = memory.length(rid, flag)
            else:
                await store.close("T", rid, seal=flag, ttl=TTL)
                got = want = memory.close(rid, flag)
            assert got == want, (step, op, rid, flag)
            if step % 50 == 0:
                memory.sealed.clear()
                await client.delete(*(keys.seal("T", r) for r in requests))
        for rid in requests:
            assert await client.llen(keys.claim_list("T", rid)) == memory.lists.get(rid, 0)
            assert bool(await client.exists(keys.seal("T", rid))) == (rid in memory.sealed)
    finally:
        await client.flushdb()
        await client.aclose()


async def test_claims_and_seals_carry_their_ttl(make_client):
    client = make_client()
    keys = Keys("cs")
    store = ClaimStore(client, keys)
    try:
        await store.claim("T", "r", "w", TTL, check_seal=True)
        assert 0 < await client.ttl(keys.claim_list("T", "r")) <= TTL
        await store.pop("T", "r", seal=True, ttl=TTL)
        assert 0 < await client.ttl(keys.seal("T", "r")) <= TTL
        assert await client.exists(keys.claim_list("T", "r")) == 0
        await store.close("T", "q", seal=True, ttl=TTL)
        assert 0 < await client.ttl(keys.seal("T", "q")) <= TTL
    finally:
        await client.flushdb()
        await client.aclose()
