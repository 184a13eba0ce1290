"""trustchain_lab: measure how the Trust Chain fan-out / fan-in pattern behaves.

The public API: describe an experiment with ``Scenario`` (and ``WorkerSpec``, ``SubTask``,
the distributions, a protocol variant from ``variants()``), run it with ``run_redis`` (real
Redis) or ``run_sim`` (the SimPy model, with a ``Network`` that ``calibrate`` can fit to
your Redis), get a ``RunResult``. Closed forms are in ``trustchain_lab.analytic``; the
protocol core in ``trustchain_lab.protocol``; the reference implementation over Redis in
``trustchain_lab.chain``.
"""

from .calibrate import calibrate
from .dists import Const, Dist, Empirical, Exponential, LogNormal, Uniform
from .protocol import Outcome, Reason, variants
from .run_redis import arun_redis, run_redis
from .run_sim import run_sim
from .scenario import Scenario, SubTask, WorkerSpec
from .sim import Network
from .target import FakeRedisWarning, NoRedisError
from .topology import Topology
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
    "Outcome",
    "Reason",
    "RunResult",
    "Scenario",
    "SubTask",
    "Topology",
    "Uniform",
    "WorkerSpec",
    "arun_redis",
    "calibrate",
    "classify",
    "run_redis",
    "run_sim",
    "variants",
]
