"""Fixtures: a private real redis-server per test session, and fakeredis beside it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import fakeredis
import pytest
from redis.asyncio import Redis

from trustchain_lab.redis_server import RedisServer, redis_server_binary
from trustchain_lab.target import FAKEREDIS

REQUIRE_REDIS = os.environ.get("TRUSTCHAIN_REQUIRE_REDIS") == "1"


def need_redis_server() -> None:
    """Skip (or, with TRUSTCHAIN_REQUIRE_REDIS=1, fail) when redis-server is missing."""
    if redis_server_binary() is None:
        message = "no redis-server on PATH (apt-get install redis-server)"
        if REQUIRE_REDIS:
            pytest.fail(f"TRUSTCHAIN_REQUIRE_REDIS=1 but {message}")
        pytest.skip(message)


@pytest.fixture
def namespaces() -> None:
    """Skip (or, with TRUSTCHAIN_REQUIRE_REDIS=1, fail) when network namespaces cannot be
    made here (root and iproute2's `ip` are needed)."""
    from trustchain_lab.netns import NamespaceError, check_namespaces

    try:
        check_namespaces()
    except NamespaceError as exc:
        if REQUIRE_REDIS:
            pytest.fail(f"TRUSTCHAIN_REQUIRE_REDIS=1 but {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def real_redis_url() -> Iterator[str]:
    """URL of a private redis-server on a free loopback port, stopped after the session."""
    need_redis_server()
    with RedisServer() as server:
        yield server.url


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A private redis-server of this test alone (it may be killed, paused, restarted)."""
    need_redis_server()
    with RedisServer() as s:
        yield s


@pytest.fixture(params=["fakeredis", "redis"])
def backend_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on fakeredis and once on the private real Redis."""
    if request.param == "fakeredis":
        return FAKEREDIS
    return request.getfixturevalue("real_redis_url")


@pytest.fixture
def make_client(backend_url: str) -> Callable[[], Redis]:
    """Makes clients of one Redis (one FakeServer per test on fakeredis)."""
    if backend_url == FAKEREDIS:
        server = fakeredis.FakeServer()
        return lambda: fakeredis.FakeAsyncRedis(server=server)
    return lambda: Redis.from_url(backend_url)
