"""A chain ``Worker`` as a process: ``python -m trustchain_lab.worker --task NAME``.

It serves one task name until SIGTERM or SIGINT: each task it is interested in (with
probability ``--interest``, drawn from ``--seed``) it works on by sleeping ``--work-ms``
and answers ``{"worker": name, "work_ms": ms}``. Once subscribed it prints ``ready NAME``
on stdout, so a parent can wait for it. On a stop signal it stops taking tasks, lets the
ones in flight finish (up to ``DRAIN_WAIT`` seconds), closes and exits 0. Bad options and
an unreachable Redis are one-line errors (exit 2).

``main(argv)`` owns the event loop; ``serve(...)`` runs the same worker inside a loop
that is already running (until its ``stop`` event is set).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from redis.exceptions import RedisError

from .chain import Keys, TaskRequest, Worker, check_name
from .target import NoRedisError, check_reachable, describe_url

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"  # when neither --redis-url nor REDIS_URL
DRAIN_WAIT = 5.0  # seconds the tasks in flight may take to finish after a stop signal
START_WAIT = 15.0  # seconds to connect and subscribe before giving up


async def serve(
    redis_url: str,
    task: str,
    stop: asyncio.Event,
    *,
    name: str | None = None,
    work_ms: float = 0.0,
    interest: float = 1.0,
    seed: int | None = None,
    keys: Keys | None = None,
    ready: Callable[[Worker], None] | None = None,
) -> Worker:
    """Serve ``task`` until ``stop`` is set, then drain and close; returns the (closed)
    worker, whose counters say how it went. ``ready(worker)`` is called once subscribed."""
    if not 0.0 <= interest <= 1.0:
        raise ValueError(f"interest must be within [0, 1], got {interest!r}")
    if work_ms < 0:
        raise ValueError(f"work_ms must be >= 0, got {work_ms!r}")
    worker = Worker(redis_url, name=name, keys=keys)
    draw = random.Random(seed).random

    def interested(_: TaskRequest) -> bool:
        return draw() < interest

    async def work(_: TaskRequest) -> dict[str, Any]:
        await asyncio.sleep(work_ms / 1000)
        return {"worker": worker.name, "work_ms": work_ms}

    worker.on(task, work, interested=interested)
    try:
        async with asyncio.timeout(START_WAIT):
            await worker.start()
        if ready is not None:
            ready(worker)
        await stop.wait()
        await worker.close_reader()  # no new tasks; the ones in flight may finish
        await worker.drain(DRAIN_WAIT)
    finally:
        await worker.close()
    return worker


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m trustchain_lab.worker``."""
    p = argparse.ArgumentParser(
        prog="python -m trustchain_lab.worker",
        description="Serve one Trust Chain task name until SIGTERM/SIGINT.",
    )
    p.add_argument("--task", required=True, type=name_arg, help="the task name to serve")
    p.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
        help=f"the Redis to use (default: REDIS_URL, else {DEFAULT_REDIS_URL})",
    )
    p.add_argument("--name", type=name_arg, help="the worker's name (default: worker-<random>)")
    p.add_argument("--work-ms", type=float, default=0.0, help="work time per task (default: 0)")
    p.add_argument(
        "--interest", type=float, default=1.0, help="probability of wanting a task (default: 1)"
    )
    p.add_argument("--seed", type=int, help="seed of the interest draws (default: random)")
    p.add_argument("--keys-prefix", type=name_arg, default=Keys().prefix, help="key prefix")
    return p


def name_arg(text: str) -> str:
    """An argparse type: a name the protocol accepts (``check_name``)."""
    try:
        return check_name(text, "name")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    """Run the worker until SIGTERM/SIGINT; 0 after a clean stop, 2 on an error."""
    p = build_parser()
    args = p.parse_args(argv)
    if not 0.0 <= args.interest <= 1.0:
        p.error(f"--interest must be within [0, 1], got {args.interest:g}")
    if not args.work_ms >= 0:
        p.error(f"--work-ms must be >= 0, got {args.work_ms:g}")
    return run_until_stopped(args.redis_url, lambda: _run(args), "worker")


def run_until_stopped(
    redis_url: str, run: Callable[[], Coroutine[Any, Any, None]], what: str
) -> int:
    """Check that Redis answers, then ``asyncio.run(run())`` (a service that stops on
    SIGTERM/SIGINT); the exit status: 0, 2 after a one-line error, 130 on an early Ctrl-C."""
    try:
        check_reachable(redis_url)
        asyncio.run(run())
    except NoRedisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (RedisError, OSError, TimeoutError) as exc:  # Redis gone, a port taken …
        where = describe_url(redis_url)
        print(f"error: {what} (Redis {where}): {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the loop took over the signals
        return 130
    return 0


async def _run(args: argparse.Namespace) -> None:
    stop = on_stop_signals()
    await serve(
        args.redis_url,
        args.task,
        stop,
        name=args.name,
        work_ms=args.work_ms,
        interest=args.interest,
        seed=args.seed,
        keys=Keys(args.keys_prefix),
        ready=lambda w: print(f"ready {w.name}", flush=True),
    )


def on_stop_signals() -> asyncio.Event:
    """An event the running loop sets on SIGTERM or SIGINT (instead of dying mid-step)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


if __name__ == "__main__":
    sys.exit(main())
