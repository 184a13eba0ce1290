"""Many scenarios at once: one tidy table of parameters and summaries with intervals.

``sweep`` runs each scenario (in parallel processes by default, or on any
``concurrent.futures.Executor``, e.g. a ``dask.distributed`` client's ``get_executor()``)
and returns one row per scenario: its parameters as columns, then ``RunResult.summary()``
(rates and latency quantiles with their 95 % intervals). Each scenario carries its own
seed, so the table is the same whatever ``jobs`` or the executor.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pandas as pd

from .scenario import Scenario
from .sim import Network
from .trace import RunResult

BACKENDS = ("sim", "redis")


def grid(base: Scenario, **axes: Sequence[Any]) -> list[Scenario]:
    """``base`` with every combination of the axes' values (the last axis varies fastest),
    e.g. ``grid(sc, workers=[2, 4], interest=[0.5, 1])`` gives four scenarios."""
    if not isinstance(base, Scenario):
        raise TypeError(f"base must be a Scenario, got {type(base).__name__}")
    fields = {f.name for f in dataclasses.fields(Scenario)}
    unknown = sorted(set(axes) - fields)
    if unknown:
        raise ValueError(f"not Scenario fields: {', '.join(unknown)}")
    for name, values in axes.items():
        if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
            raise ValueError(f"axis {name!r} must be a list of values, got {values!r}")
    empty = [name for name, values in axes.items() if len(values) == 0]
    if empty:
        raise ValueError(f"axes with no values: {', '.join(empty)}")
    names = list(axes)
    return [
        base.replace(**dict(zip(names, values, strict=True)))
        for values in itertools.product(*(axes[n] for n in names))
    ]


def parameters(scenario: Scenario) -> dict[str, Any]:
    """A scenario's fields as table columns (distributions and worker lists as text)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(Scenario):
        value = getattr(scenario, f.name)
        out[f.name] = value if isinstance(value, int | float | str | bool) else str(value)
    return out


def sweep(
    scenarios: Iterable[Scenario],
    backend: str = "sim",
    *,
    network: Network | None = None,
    redis_url: str | None = None,
    jobs: int | None = None,
    executor: concurrent.futures.Executor | None = None,
    progress: bool | None = None,
    measure: Callable[[RunResult], dict[str, Any]] | None = None,
    placement: str = "inline",
) -> pd.DataFrame:
    """Run every scenario on ``backend`` and return one row per scenario, in their order.

    ``jobs``: processes to use (default: one per CPU for ``"sim"``; 1 for ``"redis"``, whose
    timings parallel runs would distort); ``jobs=1`` runs in this process. Worker processes
    are spawned and re-run a script's top level: call ``sweep`` under
    ``if __name__ == "__main__":`` in a script (a notebook needs nothing). ``executor``:
    run on it instead (``jobs`` is then ignored). ``network`` is the model's (sim);
    ``redis_url`` the Redis to use (redis; default as ``run_redis``). ``measure``: a
    module-level function of a ``RunResult`` returning more columns for its row (it runs
    where the scenario ran, so it must be importable there). ``placement``: where the real
    workers run (``run_redis``'s; redis only).
    """
    items = [scenarios] if isinstance(scenarios, Scenario) else list(scenarios)
    if not items:
        raise ValueError("no scenarios to run")
    bad = [type(s).__name__ for s in items if not isinstance(s, Scenario)]
    if bad:
        raise TypeError(f"scenarios must be Scenario objects, got {bad[0]}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be an int >= 1, got {jobs!r}")
    if network is not None and not isinstance(network, Network):
        raise TypeError(f"network must be a Network, got {type(network).__name__}")
    if placement != "inline" and backend != "redis":
        raise ValueError(f"placement={placement!r} is for backend 'redis', not {backend!r}")
    if measure is not None and not callable(measure):
        raise TypeError(f"measure must be a function of a RunResult, got {measure!r}")
    if executor is not None and not isinstance(executor, concurrent.futures.Executor):
        raise TypeError(f"executor must be a concurrent.futures.Executor, got {executor!r}")
    if backend == "redis" and redis_url is None:
        from .target import check_reachable, redis_target

        if os.environ.get("REDIS_URL"):
            check_reachable(os.environ["REDIS_URL"])
        else:  # one private server for the whole sweep, not one per scenario
            with redis_target(None) as target:
                return sweep(
                    items,
                    backend,
                    redis_url=target.url,
                    jobs=jobs,
                    executor=executor,
                    progress=progress,
                    measure=measure,
                    placement=placement,
                )
    target = network if backend == "sim" else (redis_url, placement)
    jobs = jobs or (os.cpu_count() or 1 if backend == "sim" else 1)
    rows: list[dict[str, Any] | None] = [None] * len(items)
    bar = _bar(len(items), progress, backend)
    try:
        if executor is None and min(jobs, len(items)) == 1:
            for k, sc in enumerate(items):
                rows[k] = run_one(sc, backend, target, measure)
                bar.update()
        else:
            own = executor is None
            pool = executor or concurrent.futures.ProcessPoolExecutor(
                max_workers=min(jobs, len(items)), mp_context=multiprocessing.get_context("spawn")
            )
            try:
                futures = {
                    pool.submit(run_one, sc, backend, target, measure): k
                    for k, sc in enumerate(items)
                }
                for done in concurrent.futures.as_completed(futures):
                    rows[futures[done]] = done.result()
                    bar.update()
            except BrokenProcessPool:
                raise RuntimeError(
                    "a sweep worker process died: in a script, call sweep() under "
                    "`if __name__ == '__main__':` (worker processes re-run the script's top "
                    "level), or pass jobs=1"
                ) from None
            finally:
                if own:
                    pool.shutdown(cancel_futures=True)
    finally:
        bar.close()
    return pd.DataFrame([{"scenario": k, **row} for k, row in enumerate(rows) if row is not None])


def run_one(
    scenario: Scenario,
    backend: str,
    target: Any,
    measure: Callable[[RunResult], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One row of a sweep: the scenario's parameters, its summary and what ``measure``
    adds (run anywhere: it is what an executor's worker process runs)."""
    if backend == "sim":
        from .sim_runner import run_sim

        result = run_sim(scenario, target, progress=False)
    else:
        from .redis_runner import run_redis

        url, placement = target
        result = run_redis(scenario, url, placement=placement, progress=False)
    summary = result.summary().to_dict()
    summary["requests"] = int(summary["requests"])
    extra = measure(result) if measure is not None else {}
    return {**parameters(scenario), "backend": result.backend, **summary, **extra}


def _bar(total: int, progress: bool | None, backend: str):
    from tqdm import tqdm

    disable = None if progress is None else not progress
    return tqdm(total=total, desc=f"sweep ({backend})", leave=False, disable=disable)
