"""Which Redis a run talks to: ``REDIS_URL``, else a private redis-server, else fakeredis."""

from __future__ import annotations

import os
import urllib.parse
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

from .chain.endpoint import CONNECTION_WAIT, MAX_CONNECTIONS, redis_client
from .redis_server import RedisServer, redis_server_binary

FAKEREDIS = "fakeredis"  # pass as the URL to choose fakeredis explicitly


class FakeRedisWarning(UserWarning):
    """The run used fakeredis: its timings are not Redis timings."""


class NoRedisError(RuntimeError):
    """A real Redis was required and none could be reached or started."""


@dataclass
class RedisTarget:
    """A Redis to run against: ``backend`` is ``"redis"`` or ``"fakeredis"``."""

    backend: str
    source: str  # "url", "REDIS_URL", "private-server" or "fakeredis"
    url: str  # what run_redis and calibrate accept: a redis:// URL or FAKEREDIS
    make_client: Callable[[], Redis]
    info: dict[str, Any] = field(default_factory=dict)

    def server_version(self) -> str:
        """The Redis server's own version (``INFO server``), or fakeredis' version."""
        from importlib.metadata import version

        if self.backend == "fakeredis":
            return f"fakeredis {version('fakeredis')}"
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=5)
        try:
            return str(client.info("server").get("redis_version", "unknown"))
        finally:
            client.close()


def describe_url(url: str) -> str:
    """The URL without its password, safe to store in results."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # e.g. a port that is not a number
        return "<malformed URL>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


CHECK_TIMEOUT = 3.0  # seconds to reach a Redis given by URL before calling it unreachable


def check_reachable(url: str) -> None:
    """PING the Redis at ``url`` once; ``NoRedisError`` in one line naming it if that fails."""
    import redis

    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT
        )
    except ValueError as exc:
        raise NoRedisError(f"malformed Redis URL {describe_url(url)}: {exc}") from None
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise NoRedisError(f"cannot use the Redis at {describe_url(url)}: {exc}") from None
    finally:
        client.close()


@contextmanager
def redis_target(url: str | None = None, *, require_real: bool = False) -> Iterator[RedisTarget]:
    """Resolve where to run, start a private server if that is the choice, stop it after.

    ``url`` first (``"fakeredis"`` chooses fakeredis, quietly), then ``REDIS_URL``, then
    a private ``redis-server`` on a free loopback port (when the binary is on PATH), then
    fakeredis with a ``FakeRedisWarning``, unless ``require_real`` is set, which raises
    ``NoRedisError`` instead.
    """
    if url == FAKEREDIS:
        yield _fake()
        return
    url = url or os.environ.get("REDIS_URL") or None
    if url:
        check_reachable(url)
        source = "url" if url != os.environ.get("REDIS_URL") else "REDIS_URL"
        yield RedisTarget(
            "redis", source, url, lambda: redis_client(url), {"redis_url": describe_url(url)}
        )
        return
    if redis_server_binary() is not None:
        with RedisServer() as server:
            yield RedisTarget(
                "redis",
                "private-server",
                server.url,
                lambda: redis_client(server.url),
                {"redis_url": describe_url(server.url)},
            )
        return
    if require_real:
        raise NoRedisError(
            "no Redis to run against: set REDIS_URL (or pass --redis-url), or install "
            "redis-server (Debian: apt-get install redis-server)"
        )
    warnings.warn(
        "no REDIS_URL and no redis-server on PATH: running on fakeredis, whose timings are "
        "not Redis timings",
        FakeRedisWarning,
        stacklevel=3,
    )
    yield _fake()


def _fake() -> RedisTarget:
    import fakeredis

    server = fakeredis.FakeServer()  # a fresh server per run: no ghost subscriptions
    return RedisTarget(
        "fakeredis",
        "fakeredis",
        FAKEREDIS,
        lambda: fakeredis.FakeAsyncRedis(  # a pool that waits, as chain.redis_client's: the
            server=server,  # default one raises "Too many connections" at 100 in flight
            connection_pool_class=BlockingConnectionPool,
            max_connections=MAX_CONNECTIONS,
            timeout=CONNECTION_WAIT,
        ),
        {"redis_url": None},
    )
