"""The model against real Redis, request by request (common random numbers)."""

import pytest

import trustchain_lab as tl
from trustchain_lab import Exponential, Scenario, SubTask, WorkerSpec
from trustchain_lab.calibration import measure

W = WorkerSpec
SCENARIOS = {  # time margins (tens of ms) far above Redis latency, light client load
    "mixed": Scenario(
        workers=4,
        interest=0.7,
        claim_delay=Exponential(0.05),
        crash=0.02,
        work_time=Exponential(0.02),
        probe_window=0.1,
        deadline=1.0,
        requests=200,
        concurrency=4,
        seed=21,
    ),
    "probe": Scenario(
        workers=1,
        claim_delay=Exponential(0.05),
        probe_window=0.1,
        deadline=1.0,
        requests=200,
        concurrency=8,
        seed=22,
    ),
    "race": Scenario(
        workers=2,
        claim_delay=Exponential(0.02),
        work_time=Exponential(0.03),
        probe_window=1.0,
        deadline=2.0,
        requests=200,
        concurrency=4,
        seed=23,
    ),
}


@pytest.fixture(scope="module")
def network(real_redis_url):
    cal = measure(real_redis_url)
    assert cal.measured["backend"] == "redis"
    assert 0 < cal.network.client_cost < 0.01 and cal.network.one_way > 0
    return cal.network


def test_calibrate_on_fakeredis_keeps_default_server_costs():
    net = tl.calibrate("fakeredis")
    assert net.service == tl.Network().service and net.client_cost > 0


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_outcomes_agree_request_by_request(name, network, real_redis_url):
    sc = SCENARIOS[name]
    real = tl.run_redis(sc, real_redis_url, progress=False).top_level().sort_values("index")
    sim = tl.run_sim(sc, network).top_level().sort_values("index")
    assert real["index"].tolist() == sim["index"].tolist() == list(range(sc.requests))
    agree = (real["outcome"].to_numpy() == sim["outcome"].to_numpy()).mean()
    assert agree >= 0.95, f"{name}: outcomes agree on {agree:.1%} of requests"
    ratio = sim["latency"].median() / real["latency"].median()
    assert 0.5 <= ratio <= 2.0, f"{name}: sim/real latency p50 ratio {ratio:.2f}"


@pytest.mark.parametrize("variant", tl.variants(), ids=lambda v: v.name)
def test_every_variant_agrees_on_the_latency_suite_scenario(variant, network, real_redis_url):
    from benchmarks.latency import scenario

    sc = scenario(200, seed=5).replace(variant=variant.name)
    real = tl.run_redis(sc, real_redis_url, progress=False).top_level().sort_values("index")
    sim = tl.run_sim(sc, network).top_level().sort_values("index")
    agree = (real["outcome"].to_numpy() == sim["outcome"].to_numpy()).mean()
    assert agree >= 0.95, f"{variant.name}: outcomes agree on {agree:.1%} of requests"
    ratio = sim["latency"].median() / real["latency"].median()
    assert 0.5 <= ratio <= 2.0, f"{variant.name}: sim/real latency p50 ratio {ratio:.2f}"


def steps_by_actor(result: tl.RunResult) -> dict[str, list[tuple[str, str]]]:
    """Each actor's own sequence of (task, step): the order that does not depend on which
    of two simultaneous messages a real event loop happens to handle first."""
    out: dict[str, list[tuple[str, str]]] = {}
    for actor, task, kind in zip(
        result.events.actor, result.events.task, result.events.kind, strict=True
    ):
        out.setdefault(str(actor), []).append((str(task), str(kind)))
    return out


def test_the_seed_example_takes_the_same_steps_in_model_and_redis(network, real_redis_url):
    bar = SubTask("Bar", (W("S3", work_time=0.02),))
    sc = Scenario(
        task="Foo",
        workers=(
            W("S1", work_time=0.02, subtask=bar),
            W("S2", work_time=0.01),
            W("S3", interest=0.0),
        ),
        probe_window=0.3,
        deadline=2.0,
        requests=1,
    )
    real = steps_by_actor(tl.run_redis(sc, real_redis_url, progress=False))
    sim = steps_by_actor(tl.run_sim(sc, network))
    assert real == sim
    assert ("Bar", "dispatch") in sim["S1"] and ("Bar", "claim") in sim["S3"]
