"""trustchain_lab: measure how the Trust Chain fan-out / fan-in pattern behaves.

The public API: describe an experiment with ``Scenario`` (and ``WorkerSpec``, ``SubTask``,
the distributions, a protocol variant from ``variants()``), run it with ``run_redis`` (real
Redis) or ``run_sim`` (the SimPy model, with a ``Network`` that ``calibrate`` can fit to
your Redis), get a ``RunResult``. Closed forms are in ``trustchain_lab.analytic``; the
protocol core in ``trustchain_lab.protocol``; the reference implementation over Redis in
``trustchain_lab.chain``.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {  # name -> module that defines it; imported on first use, so that importing
    # trustchain_lab.protocol or trustchain_lab.chain loads neither the lab nor its deps
    "Const": "dists",
    "Dist": "dists",
    "Empirical": "dists",
    "Exponential": "dists",
    "LogNormal": "dists",
    "Uniform": "dists",
    "Outcome": "protocol",
    "Reason": "protocol",
    "variants": "protocol",
    "Scenario": "scenario",
    "SubTask": "scenario",
    "WorkerSpec": "scenario",
    "Topology": "topology",
    "Network": "sim",
    "Link": "link",
    "run_sim": "sim_runner",
    "run_redis": "redis_runner",
    "arun_redis": "redis_runner",
    "calibrate": "calibration",
    "CalibrationWarning": "calibration",
    "FakeRedisWarning": "target",
    "NoRedisError": "target",
    "OUTCOMES": "trace",
    "RunResult": "trace",
    "classify": "trace",
    "wilson_interval": "stats",
    "quantile_interval": "stats",
    "quantile_intervals": "stats",
    "mean_interval": "stats",
    "grid": "sweeps",
    "sweep": "sweeps",
}
_SUBMODULES = ("analytic", "chain", "plots", "protocol", "sim")  # tl.analytic.… works too
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    if name not in _EXPORTS:
        raise AttributeError(f"module 'trustchain_lab' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
