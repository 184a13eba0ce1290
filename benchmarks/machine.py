"""How fast the machine is right now: a probe at the start and at the end of every run.

Real-Redis timings depend on the machine as much as on the code (a shared VM's CPU and
loopback round trip move by tens of percent within minutes). A run's own intervals cannot
see that, so every run records this probe twice, and ``compare`` says when the machine moved
between two runs by more than it moved within either.
"""

from __future__ import annotations

import statistics
import time

LOOP = 200_000  # iterations of the pure-Python loop that prices the client's CPU
LOOPS = 5  # timings of it; the probe keeps the median
PINGS = 400  # sequential round trips to Redis
MOVED = 0.10  # a probe that changed by more than this (and more than within each run) moved


def _python_loop() -> float:
    t = time.perf_counter()
    total = 0
    for i in range(LOOP):
        total += i & 7
    return time.perf_counter() - t


def probe(redis_url: str | None) -> dict[str, float]:
    """The pure-Python loop's time (s) and, for a real Redis, the PING round trip p50 (s)."""
    out = {"python_loop_s": statistics.median(_python_loop() for _ in range(LOOPS))}
    if redis_url and redis_url.startswith(("redis://", "rediss://", "unix://")):
        from redis import Redis

        client = Redis.from_url(redis_url, socket_timeout=5)
        try:
            client.ping()
            rtts = []
            for _ in range(PINGS):
                t = time.perf_counter()
                client.ping()
                rtts.append(time.perf_counter() - t)
        finally:
            client.close()
        out["ping_rtt_p50_s"] = statistics.median(rtts)
    return out


def _change(a: float, b: float) -> float:
    return (b - a) / a if a else 0.0


def machine_moved(old: dict, new: dict) -> tuple[list[str], bool]:
    """Lines describing both runs' probes, and whether the machine moved between them: a
    figure whose mean changed by more than ``MOVED`` and more than within either run."""
    lines, moved = [], False
    for figure in ("python_loop_s", "ping_rtt_p50_s"):
        runs = [m.get("machine", {}) for m in (old, new)]
        values = [(r.get("start", {}).get(figure), r.get("end", {}).get(figure)) for r in runs]
        if any(v is None for pair in values for v in pair):
            continue
        within = max(abs(_change(*pair)) for pair in values)
        between = _change(statistics.mean(values[0]), statistics.mean(values[1]))
        shifted = abs(between) > max(MOVED, within)
        moved = moved or shifted
        (a0, a1), (b0, b1) = ((v * 1e6 for v in pair) for pair in values)
        lines.append(
            f"  {figure:<15} old {a0:.0f} -> {a1:.0f} µs, new {b0:.0f} -> {b1:.0f} µs "
            f"(start -> end); between runs {between:+.1%}, within a run up to {within:.1%}"
            + ("  MOVED" if shifted else "")
        )
    return lines, moved
