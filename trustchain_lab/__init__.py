"""trustchain_lab: measure how the Trust Chain fan-out / fan-in pattern behaves.

The public API: describe an experiment with ``Scenario`` (and ``WorkerSpec``, ``SubTask``,
the distributions), run it with ``run_redis`` (real Redis) or ``run_sim`` (the SimPy model,
with a ``Network`` that ``calibrate`` can fit to your Redis), get a ``RunResult``.
Closed forms are in ``trustchain_lab.analytic``; the reference implementation itself lives
in ``trustchain_lab.chain``.
"""

from .dists import Const, Dist, Empirical, Exponential, LogNormal, Uniform
from .run_redis import arun_redis, run_redis
from .scenario import Scenario, SubTask, WorkerSpec
from .sim import Network, calibrate, run_sim
from .target import FakeRedisWarning, NoRedisError
from .trace import OUTCOMES, RunResult, classify

__all__ = [
    "OUTCOMES",
    "Const",
    "Dist",
    "Empirical",
    "Exponential",
    "FakeRedisWarning",
    "LogNormal",
    "Network",
    "NoRedisError",
    "RunResult",
    "Scenario",
    "SubTask",
    "Uniform",
    "WorkerSpec",
    "arun_redis",
    "calibrate",
    "classify",
    "run_redis",
    "run_sim",
]
