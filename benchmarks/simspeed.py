"""How fast the SimPy model runs, against a bare SimPy loop (used by the throughput suite).

The model runs in a child process (so its peak memory is its own): N = 16 always-interested
workers, many requests in flight. Its speed is counted in *necessary events*: per request
2 + N (the dispatch, one delivery per worker) plus 3 per interested worker (claim, end of
work, reply), whatever the model does to produce them. In the same child, right after, a
bare SimPy loop of plain timeouts (64 processes) processes that many events; the ratio of
the two rates is the model's speed relative to SimPy itself. SimPy's own event counts are
reported too.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import gc, json, resource, sys, time
import simpy
import trustchain_lab as tl
from trustchain_lab.sim.model import Model

requests, workers, seed = (int(a) for a in sys.argv[1:4])
base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sc = tl.Scenario(task="Speed", workers=workers, claim_delay=tl.Exponential(0.001),
                 work_time=tl.Exponential(0.01), probe_window=0.5, deadline=5.0,
                 requests=requests, concurrency=64, seed=seed)
t0 = time.perf_counter()
model = Model(sc, progress=False)
for _ in range(sc.concurrency):
    model.start_next()
gc.disable()
t1 = time.perf_counter()
model.env.run()
t2 = time.perf_counter()
gc.enable()
events = model.events()
t3 = time.perf_counter()
requests_table = tl.classify(events)
t4 = time.perf_counter()
model_events = next(model.env._eid)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rows = len(events)
interested = sc.draws().interested.sum()
complete = float((requests_table["outcome"] == "complete").mean())
del events, requests_table, model

necessary = requests * (2 + workers) + 3 * int(interested)
env = simpy.Environment()
left = [necessary]
def loop(env):
    while left[0] > 0:
        left[0] -= 1
        yield env.timeout(1e-3)
for _ in range(64):
    env.process(loop(env))
gc.disable()
t5 = time.perf_counter()
env.run()
t6 = time.perf_counter()
gc.enable()
bare_events = next(env._eid)
print(json.dumps({
    "requests": requests, "workers": workers, "trace_rows": rows,
    "model_simpy_events": model_events, "necessary_events": necessary,
    "model_run_s": t2 - t1, "setup_s": t1 - t0,
    "frame_s": t3 - t2, "classify_s": t4 - t3, "total_s": t4 - t0,
    "peak_rss_mb": peak / 1024, "rss_after_imports_mb": base_rss / 1024,
    "bare_simpy_events": bare_events, "bare_run_s": t6 - t5, "complete_rate": complete,
}))
"""


def measure(requests: int, workers: int = 16, seed: int = 0, timeout: float = 900) -> dict:
    """Run the child and return its figures (raises ``RuntimeError`` if it fails)."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(requests), str(workers), str(seed)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"simspeed child failed: {proc.stderr.strip()[-2000:]}")
    fig = json.loads(proc.stdout.strip().splitlines()[-1])
    fig["model_events_per_s"] = fig["necessary_events"] / fig["model_run_s"]
    fig["bare_events_per_s"] = fig["necessary_events"] / fig["bare_run_s"]
    fig["ratio"] = fig["model_events_per_s"] / fig["bare_events_per_s"]
    fig["model_simpy_events_per_s"] = fig["model_simpy_events"] / fig["model_run_s"]
    fig["trace_rows_per_s"] = fig["trace_rows"] / fig["model_run_s"]
    return fig
