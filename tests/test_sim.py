"""The SimPy model: exact traces, determinism, the shared schema, and closed forms."""

import math

import numpy as np
import pytest

import trustchain_lab as tl
from trustchain_lab import Const, Empirical, Exponential, Network, Scenario, WorkerSpec
from trustchain_lab import analytic as an

W = WorkerSpec
ZERO = Network.zero()


def binomial_tolerance(p: float, n: int, sigmas: float = 4.0) -> float:
    return sigmas * math.sqrt(max(p * (1 - p), 1e-6) / n)


def two_workers(**kw) -> Scenario:
    workers = (
        W("w0", claim_delay=0.010, work_time=0.100),
        W("w1", claim_delay=0.020, work_time=0.050),
    )
    return Scenario(workers=workers, probe_window=0.5, deadline=2.0, requests=1, **kw)


def test_exact_trace_of_a_two_worker_request():
    net = Network(
        one_way=0.001, service=0.0, per_subscriber=0.0, client_cost=0.0, shared_client_cpu=False
    )
    ev = tl.run_sim(two_workers(), net).events
    got = [(str(a), str(k), round(t, 6)) for a, k, t in zip(ev.actor, ev.kind, ev.t, strict=True)]
    assert got == [
        ("gateway", "dispatch", 0.0),
        ("w0", "deliver", 0.002),
        ("w1", "deliver", 0.002),
        ("w0", "interest", 0.012),
        ("w0", "claim", 0.014),
        ("w0", "work_start", 0.014),
        ("w1", "interest", 0.022),
        ("w1", "claim", 0.024),
        ("w1", "work_start", 0.024),
        ("w1", "work_end", 0.074),
        ("w1", "partial_sent", 0.076),
        ("gateway", "partial_received", 0.076),
        ("gateway", "pop", 0.078),
        ("w0", "work_end", 0.114),
        ("w0", "partial_sent", 0.116),
        ("gateway", "partial_received", 0.116),
        ("gateway", "pop", 0.118),
        ("gateway", "final", 0.118),
    ]
    assert ev.loc[ev.kind == "pop", "value"].tolist() == [1.0, 0.0]


def test_client_cpu_and_server_queue_delay_a_fan_out():
    """Shared client CPU: the two deliveries are handled one after the other."""
    net = Network(one_way=0.0, service=0.0, per_subscriber=0.0, client_cost=0.001)
    ev = tl.run_sim(two_workers(), net).events
    delivers = ev[ev.kind == "deliver"]["t"].round(6).tolist()
    assert delivers == [0.002, 0.003]  # publish op at 0-1 ms, then one op per delivery


def test_the_model_is_deterministic():
    sc = Scenario(
        workers=5,
        interest=0.6,
        claim_delay=Exponential(0.01),
        crash=0.1,
        work_time=Exponential(0.02),
        probe_window=0.02,
        deadline=0.3,
        requests=300,
        concurrency=7,
        seed=4,
    )
    a, b = tl.run_sim(sc), tl.run_sim(sc)
    assert a.events.equals(b.events) and a.requests.equals(b.requests)
    assert set(a.requests["outcome"]) >= {"complete", "premature", "timeout"}


def test_sim_result_has_the_real_schema():
    sc = two_workers()
    sim = tl.run_sim(sc)
    real = tl.run_redis(sc, "fakeredis", progress=False)
    assert sim.backend == "sim" and real.backend == "fakeredis"
    assert list(sim.events.columns) == list(real.events.columns)
    assert dict(sim.requests.dtypes) == dict(real.requests.dtypes)
    assert list(sim.summary().index) == list(real.summary().index)


def test_common_random_numbers_reach_the_model():
    sc = Scenario(workers=4, interest=0.5, requests=200, seed=9, probe_window=0.05)
    ev = tl.run_sim(sc).events
    interest = ev[ev.kind == "interest"]
    got = np.zeros((200, 4), bool)
    names = [s.name for s in sc.slots()]
    for rid, actor, value in zip(interest.request_id, interest.actor, interest.value, strict=True):
        got[int(str(rid)[1:]), names.index(str(actor))] = value == 1
    assert np.array_equal(got, sc.draws().interested)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="one_way"):
        Network(one_way=-1)
    with pytest.raises(ValueError, match="shared_client_cpu"):
        Network(shared_client_cpu="yes")
    with pytest.raises(TypeError, match="Scenario"):
        tl.run_sim({"workers": 2})
    with pytest.raises(TypeError, match="Network"):
        tl.run_sim(two_workers(), {"one_way": 0})


# --- the model against closed forms (zero network) -----------------------------------------


def test_probe_miss_and_empty_rates_match_the_closed_form():
    n = 20_000
    sc = Scenario(
        workers=3,
        interest=0.5,
        claim_delay=Exponential(0.1),
        work_time=1.0,
        probe_window=0.1,
        deadline=10,
        requests=n,
        concurrency=200,
        seed=1,
    )
    s = tl.run_sim(sc, ZERO).summary()
    p_miss = an.probe_miss_probability(Exponential(0.1), 0.1, workers=3, interest=0.5)
    p_empty = an.empty_probability(3, 0.5)
    assert abs(s["probe_miss_rate"] - p_miss) <= binomial_tolerance(p_miss, n)
    assert abs(s["empty_rate"] - p_empty) <= binomial_tolerance(p_empty, n)


@pytest.mark.parametrize("workers", [1, 4, 16, 64])
def test_wait_for_all_latency_is_the_max_of_the_work_times(workers):
    n, mean = 3000, 0.01
    sc = Scenario(
        workers=workers,
        work_time=Exponential(mean),
        probe_window=5,
        deadline=10,
        requests=n,
        concurrency=100,
        seed=workers,
    )
    lat = tl.run_sim(sc, ZERO).requests["latency"].to_numpy()
    # the mean, within 4 standard errors (Var max = mean^2 * sum 1/k^2)
    se = mean * math.sqrt(sum(1 / k**2 for k in range(1, workers + 1)) / n)
    assert abs(lat.mean() - an.max_exponential_mean(mean, workers)) <= 4 * se
    # the p99: the share of requests under the closed-form p99 is 0.99 within binomial error
    p99 = an.max_exponential_quantile(mean, workers, 0.99)
    assert abs((lat <= p99).mean() - 0.99) <= binomial_tolerance(0.99, n)


@pytest.mark.parametrize("workers", [1, 4, 16, 64])
def test_tail_amplification(workers):
    n = 3000
    leaf = Empirical([0.001] * 99 + [0.1])  # slow with probability 0.01
    sc = Scenario(
        workers=workers,
        work_time=leaf,
        probe_window=5,
        deadline=10,
        requests=n,
        concurrency=100,
        seed=100 + workers,
    )
    slow = (tl.run_sim(sc, ZERO).requests["latency"] > 0.05).mean()
    p = an.tail_amplification(0.99, workers)
    assert abs(slow - p) <= binomial_tolerance(p, n)


def test_two_worker_race_matches_the_closed_form():
    n, a, b = 20_000, 0.02, 0.03
    sc = Scenario(
        workers=2,
        claim_delay=Exponential(a),
        work_time=Exponential(b),
        probe_window=10,
        deadline=20,
        requests=n,
        concurrency=200,
        seed=5,
    )
    rate = tl.run_sim(sc, ZERO).summary()["premature_rate"]
    p = an.two_worker_race_probability(a, b)
    assert abs(rate - p) <= binomial_tolerance(p, n)


def test_closed_forms_know_their_values_and_refuse_nonsense():
    assert an.harmonic(3) == pytest.approx(1 + 1 / 2 + 1 / 3)
    assert an.max_exponential_mean(2.0, 1) == 2.0
    assert an.max_exponential_quantile(1.0, 1, 0.5) == pytest.approx(math.log(2))
    assert an.probe_miss_probability(Exponential(1), 1.0) == pytest.approx(math.exp(-1))
    assert an.probe_miss_probability(Const(0.5), 1.0, workers=3) == 0.0
    assert an.tail_amplification(1.0, 10) == 0.0
    for bad in (
        lambda: an.harmonic(0),
        lambda: an.tail_amplification(1.5, 2),
        lambda: an.max_exponential_quantile(1, 2, 1.0),
        lambda: an.probe_miss_probability(Exponential(1), 0),
        lambda: an.two_worker_race_probability(0, 1),
    ):
        with pytest.raises(ValueError):
            bad()


def test_worker_processes_share_the_machines_cores():
    """One CPU per actor, but one core for all: the deliveries queue for it."""
    base = {"one_way": 0.0, "service": 0.0, "per_subscriber": 0.0, "client_cost": 0.001}
    own = Network(**base, shared_client_cpu=False)
    one_core = Network(**base, shared_client_cpu=False, cores=1)
    for net, expected in ((own, [0.002, 0.002]), (one_core, [0.002, 0.003])):
        ev = tl.run_sim(two_workers(), net).events
        assert ev[ev.kind == "deliver"]["t"].round(6).tolist() == expected


def test_an_idle_cpu_pays_the_wake_and_a_busy_one_does_not():
    net = Network(
        one_way=0.0,
        service=0.0,
        per_subscriber=0.0,
        client_cost=0.001,
        shared_client_cpu=False,
        wake=0.0005,
    )
    r = tl.run_sim(two_workers(), net)
    ev = r.events
    # the gateway's publish wakes it (0 -> 1.5 ms), each worker wakes for its delivery
    assert ev[ev.kind == "deliver"]["t"].round(6).tolist() == [0.003, 0.003]
    assert 0 < r.meta["client_wakes"] < r.meta["client_ops"]
    shared = tl.run_sim(two_workers(), Network(0.0, 0.0, 0.0, 0.001, wake=0.0005)).events
    # one CPU, busy from the publish on: the deliveries follow it without a wake
    assert shared[shared.kind == "deliver"]["t"].round(6).tolist() == [0.0025, 0.0035]
    with pytest.raises(ValueError, match="cores must be an int"):
        Network(cores=-1)


def test_a_link_adds_its_delay_to_every_hop_and_jitter_is_refused():
    net = Network(one_way=0.0001).with_link(tl.Link(0.002), proxy_one_way=0.00005)
    assert net.one_way == pytest.approx(0.00215)
    with pytest.raises(ValueError, match="jitter"):
        Network().with_link(tl.Link(0.002, 0.001))
