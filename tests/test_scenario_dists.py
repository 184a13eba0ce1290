import math

import numpy as np
import pytest

from trustchain_lab import (
    Const,
    Empirical,
    Exponential,
    LogNormal,
    Scenario,
    SubTask,
    Uniform,
    WorkerSpec,
)
from trustchain_lab.dists import dist_from_dict, stream


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 0}, "at least one worker"),
        ({"workers": []}, "at least one worker"),
        ({"workers": [1]}, "WorkerSpec"),
        ({"interest": 1.5}, "interest"),
        ({"crash": -0.1}, "crash"),
        ({"probe_window": 0}, "probe_window"),
        ({"deadline": math.inf}, "deadline"),
        ({"requests": 0}, "requests"),
        ({"concurrency": 0}, "concurrency"),
        ({"variant": "fast"}, "variant"),
        ({"grace": True}, "grace"),
        ({"grace": -0.1}, "grace"),
        ({"grace": 0.1, "variant": "ack"}, "grace does not apply"),
        ({"probe_window": 2.0, "deadline": 1.0}, r"probe_window \(2.0 s\) must be below deadline"),
        ({"claim_delay": -1}, ">= 0"),
        ({"work_time": "slow"}, "work_time"),
        ({"task": "a b"}, "whitespace"),
        ({"seed": -1}, "seed"),
        ({"workers": (WorkerSpec("a"), WorkerSpec("a"))}, "unique"),
    ],
)
def test_scenario_refuses_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Scenario(**kwargs)


def test_worker_spec_refuses_bad_values():
    with pytest.raises(ValueError, match="interest"):
        WorkerSpec(interest=2)
    with pytest.raises(ValueError, match=">= 0"):
        WorkerSpec(work_time=-3)
    with pytest.raises(ValueError, match="SubTask"):
        WorkerSpec(subtask="Bar")


def seed_example(**kw) -> Scenario:
    """The seed's diagram: S1, S2 take Foo, S3 does not; S1 dispatches Bar, which S3 takes."""
    bar = SubTask("Bar", (WorkerSpec("S3"),))
    workers = (WorkerSpec("S1", subtask=bar), WorkerSpec("S2"), WorkerSpec("S3", interest=0.0))
    return Scenario(task="Foo", workers=workers, **kw)


def test_slots_flatten_nested_workers_depth_first():
    slots = seed_example().slots()
    assert [(s.index, s.task, s.name, s.depth, s.subtask) for s in slots] == [
        (0, "Foo", "S1", 0, "Bar"),
        (1, "Bar", "S3", 1, None),
        (2, "Foo", "S2", 0, None),
        (3, "Foo", "S3", 0, None),
    ]
    assert [s.interest for s in slots] == [1.0, 1.0, 1.0, 0.0]


def test_overrides_inherit_from_the_scenario():
    sc = Scenario(workers=(WorkerSpec(work_time=2.0), WorkerSpec()), work_time=Exponential(1))
    a, b = sc.slots()
    assert a.work_time == Const(2.0) and b.work_time == Exponential(1)
    assert (a.name, b.name) == ("Foo-w0", "Foo-w1")


def test_a_task_that_dispatches_itself_is_refused():
    loop = SubTask("Bar", (WorkerSpec("x", subtask=SubTask("Foo")),))
    with pytest.raises(ValueError, match="dispatch itself"):
        Scenario(task="Foo", workers=(WorkerSpec(subtask=loop),))


def test_scenario_round_trips_through_dict():
    sc = seed_example(
        claim_delay=LogNormal(0.01, 0.3), work_time=Empirical([0.1, 0.2]), requests=7, seed=3
    )
    assert Scenario.from_dict(sc.to_dict()) == sc


@pytest.mark.parametrize(
    "dist",
    [
        Const(0.2),
        Exponential(0.5),
        Uniform(0.1, 0.3),
        LogNormal(0.2, 0.5),
        Empirical([0.1, 0.4, 0.9]),
    ],
)
def test_distributions_round_trip_and_agree_with_their_sf(dist):
    assert dist_from_dict(dist.to_dict()) == dist
    x = dist.sample(np.random.default_rng(1), 20_000)
    assert (x >= 0).all()
    for q in (0.1, 0.25, 0.5):
        p = dist.sf(q)
        # 5 standard errors of a binomial proportion over 20,000 draws
        assert abs((x > q).mean() - p) <= 5 * math.sqrt(max(p * (1 - p), 1e-4) / 20_000)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Exponential(0), "> 0"),
        (lambda: Uniform(2, 1), "low <= high"),
        (lambda: LogNormal(0, 1), "> 0"),
        (lambda: Empirical([]), "at least one"),
        (lambda: Empirical([1, -1]), ">= 0"),
        (lambda: Const(float("nan")), "finite"),
    ],
)
def test_distributions_refuse_bad_parameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_streams_are_reproducible_and_prefix_stable():
    a = Exponential(1).sample(stream(5, 2, 1), 100)
    b = Exponential(1).sample(stream(5, 2, 1), 10)
    assert np.array_equal(a[:10], b)
    assert not np.array_equal(a[:10], Exponential(1).sample(stream(5, 3, 1), 10))
    assert not np.array_equal(a[:10], Exponential(1).sample(stream(6, 2, 1), 10))


def test_draws_are_common_random_numbers():
    """Draw (i, j) depends on (seed, i, j) only: not on how many requests or workers follow."""
    base = Scenario(
        workers=3,
        interest=0.5,
        claim_delay=Exponential(0.1),
        crash=0.3,
        work_time=LogNormal(0.1, 1),
        requests=50,
        seed=11,
    )
    bigger = base.replace(
        requests=80, workers=(WorkerSpec(), WorkerSpec(), WorkerSpec(), WorkerSpec(interest=1.0))
    )
    d1, d2 = base.draws(), bigger.draws()
    for name in ("interested", "claim_delay", "work_time", "crashed"):
        assert np.array_equal(getattr(d1, name), getattr(d2, name)[:50, :3])
    assert not np.array_equal(d1.claim_delay, base.replace(seed=12).draws().claim_delay)
    assert not (d1.crashed & ~d1.interested).any()
