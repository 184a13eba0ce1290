"""Event loops whose timers fire on time (select), and the fallback when too many sockets."""

import asyncio

from trustchain_lab import timers


async def _precise() -> bool:
    return timers.precise()


def test_the_fine_loop_is_used_unless_too_many_sockets():
    assert timers.run(_precise()) is True
    assert timers.run(_precise(), sockets=timers.FD_LIMIT + 1) is False
    assert asyncio.run(_precise()) is False


def test_a_short_sleep_ends_closer_to_its_time_on_the_fine_loop():
    """Ratios within one run: 50 sleeps of 0.3 ms; epoll rounds each wait up to 1 ms."""
    import time

    async def overshoot() -> float:
        total = 0.0
        for _ in range(50):
            t = time.perf_counter()
            await asyncio.sleep(0.0003)
            total += time.perf_counter() - t - 0.0003
        return total

    fine = timers.run(overshoot())
    coarse = asyncio.run(overshoot())
    assert fine < coarse
