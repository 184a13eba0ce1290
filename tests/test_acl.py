"""Redis ACL users per role on a private redis-server: the lab works with only these rights,
and a role cannot do what it does not need."""

import pytest
from redis.asyncio import Redis
from redis.exceptions import NoPermissionError

from trustchain_lab.chain import Dispatcher, Keys, Worker, acl_rules


@pytest.mark.parametrize("variant", ["seed", "sealed", "ack"])
async def test_each_role_works_with_its_own_rights_only(server, variant):
    keys = Keys("acl")
    admin = Redis(port=server.port)
    await admin.execute_command(
        "ACL", "SETUSER", "gw", "on", ">gw-pass", *acl_rules("dispatcher", keys, "gw")
    )
    await admin.execute_command(
        "ACL", "SETUSER", "wk", "on", ">wk-pass", *acl_rules("worker", keys)
    )
    url = f"redis://{{}}@127.0.0.1:{server.port}/0"
    d = Dispatcher(url.format("gw:gw-pass"), name="gw", keys=keys)
    w = Worker(url.format("wk:wk-pass"), name="w", keys=keys)
    w.on("Foo", lambda x: _echo(x))
    await d.start()
    await w.start()
    try:
        final = await d.dispatch("Foo", "x", variant=variant, probe_window=1, deadline=5)
        assert final.results == ["x"]
        worker_client = Redis.from_url(url.format("wk:wk-pass"))
        try:
            with pytest.raises(NoPermissionError):
                await worker_client.get("someone-else:key")
            with pytest.raises(NoPermissionError):
                await worker_client.publish("someone-else:channel", b"x")
            with pytest.raises(NoPermissionError):
                await worker_client.flushdb()
            with pytest.raises(NoPermissionError):  # a worker cannot delete claim lists
                await worker_client.delete(keys.claim_list("Foo", "r"))
        finally:
            await worker_client.aclose()
    finally:
        await w.close()
        await d.close()
        await admin.aclose()


async def _echo(x):
    return x.payload


def test_a_role_must_be_known():
    with pytest.raises(ValueError, match="role must be"):
        acl_rules("admin", Keys())
