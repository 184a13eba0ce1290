"""Run a ``Scenario`` in the SimPy model and classify its trace."""

from __future__ import annotations

from .scenario import Scenario
from .sim import Model, Network
from .trace import RunResult, classify


def run_sim(
    scenario: Scenario, network: Network | None = None, *, progress: bool | None = None
) -> RunResult:
    """Run ``scenario`` in the SimPy model; the result has the schema of ``run_redis``'s."""
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a Scenario, got {type(scenario).__name__}")
    if network is not None and not isinstance(network, Network):
        raise TypeError(f"network must be a Network, got {type(network).__name__}")
    events, meta = Model(scenario, network, progress).run()
    return RunResult("sim", scenario, events, classify(events), meta)
