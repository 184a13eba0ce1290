"""What the delaying proxy itself adds: PING round trips direct and through a ``LinkProxy``
with delay 0. Not a suite: ``measure(url)``, or ``python -m benchmarks.link_cost`` on a
private redis-server.

PINGs are sequential (redis-py sync client), alternating direct and proxied so that both
see the same moments of a noisy machine; the added cost is the difference of the p50s,
with a 95 % paired bootstrap interval.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import redis

from benchmarks.core import headline_with_interval
from trustchain_lab.link import Link, LinkProxy
from trustchain_lab.stats import quantile_interval

WARMUP = 100  # PINGs on each path before timing
BOOTSTRAP = 2000  # resamples for the interval of the added cost


def _ping(client: redis.Redis) -> float:
    t = time.perf_counter()
    client.ping()
    return time.perf_counter() - t


def _quantiles(name: str, x: np.ndarray) -> dict[str, float]:
    """p50 and p99 of ``x`` (seconds), each with its order-statistic 95 % interval."""
    out: dict[str, float] = {}
    for q in (50, 99):
        out |= headline_with_interval(
            f"{name}_p{q}_s", np.quantile(x, q / 100), *quantile_interval(x, q / 100)
        )
    return out


def measure(redis_url: str, n: int = 2000, seed: int = 0) -> dict[str, Any]:
    """PING round trips (seconds) direct and through a delay-0 ``LinkProxy``: p50 and p99
    with 95 % intervals, and ``added_p50_s`` = proxied p50 - direct p50 with a paired
    bootstrap interval (``seed`` seeds the proxy and the bootstrap)."""
    timeout = {"socket_timeout": 10, "socket_connect_timeout": 10}
    with LinkProxy(redis_url, Link(), seed=seed) as proxy:
        direct = redis.Redis.from_url(redis_url, **timeout)
        proxied = redis.Redis.from_url(proxy.url, **timeout)
        try:
            for _ in range(WARMUP):
                _ping(direct)
                _ping(proxied)
            pairs = np.array([(_ping(direct), _ping(proxied)) for _ in range(n)])
        finally:
            direct.close()
            proxied.close()
    d, p = pairs[:, 0], pairs[:, 1]
    picks = np.random.default_rng(seed).integers(0, n, (BOOTSTRAP, n))
    added = np.median(p[picks], axis=1) - np.median(d[picks], axis=1)
    return {
        "n": n,
        **_quantiles("direct", d),
        **_quantiles("proxy", p),
        **headline_with_interval(
            "added_p50_s", np.median(p) - np.median(d), *np.percentile(added, [2.5, 97.5])
        ),
    }


def main() -> None:
    """Measure on a private redis-server; print the figures in microseconds."""
    from trustchain_lab.redis_server import RedisServer

    with RedisServer() as server:
        figures = measure(server.url)
    print(f"n = {figures.pop('n')} PINGs per path")
    for key, value in figures.items():
        print(f"{key.replace('_s', '_us'):<18} {value * 1e6:9.1f}")


if __name__ == "__main__":
    main()
