"""Every variant passes the same outcome tests on fakeredis, a private redis-server (workers
inline, in their own processes, in their own network namespaces) and the model: one
deterministic scenario per failure mode, the outcome each variant gives."""

import math
import warnings

import pytest

import trustchain_lab as tl
from trustchain_lab import Exponential, Network, Scenario, WorkerSpec
from trustchain_lab import analytic as an
from trustchain_lab.target import FAKEREDIS

W = WorkerSpec
VARIANTS = ("seed", "known", "sealed", "ack")


@pytest.fixture(params=["fakeredis", "redis", "sim", "processes", "hosts"])
def backend(request: pytest.FixtureRequest) -> str:
    """ "sim", a Redis URL, or "<placement> <URL>" for workers out of this process."""
    if request.param in ("sim", "fakeredis"):
        return FAKEREDIS if request.param == "fakeredis" else "sim"
    if request.param == "hosts":
        request.getfixturevalue("namespaces")
    url = request.getfixturevalue("real_redis_url")
    return url if request.param == "redis" else f"{request.param} {url}"


def run(sc: Scenario, backend: str) -> tl.RunResult:
    if backend == "sim":
        return tl.run_sim(sc, Network(), progress=False)
    placement, _, url = backend.rpartition(" ")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tl.FakeRedisWarning)
        r = tl.run_redis(sc, url, placement=placement or "inline", progress=False)
    assert r.meta["placement"] == (placement or "inline")
    return r


def base(variant: str, **kw) -> Scenario:
    return Scenario(
        **{"probe_window": 0.15, "deadline": 0.6, "requests": 3, "variant": variant, **kw}
    )


def outcomes(result: tl.RunResult) -> list[str]:
    return result.top_level()["outcome"].astype(str).tolist()


def kinds(result: tl.RunResult) -> set[str]:
    return set(result.events["kind"].astype(str))


@pytest.mark.parametrize("variant", VARIANTS)
def test_everybody_claims_early_gives_complete(variant, backend):
    r = run(base(variant, workers=3, work_time=Exponential(0.01)), backend)
    assert outcomes(r) == ["complete"] * 3
    assert (r.top_level()["partials"] == 3).all()
    assert r.meta["claim_lists_recreated"] == 0


@pytest.mark.parametrize(
    ("variant", "reason"),
    [
        ("seed", "probe_empty"),
        ("known", "all_replied"),
        ("sealed", "probe_empty"),
        ("ack", "all_replied"),
    ],
)
def test_nobody_interested_gives_empty(variant, reason, backend):
    r = run(base(variant, workers=2, interest=0.0), backend)
    assert outcomes(r) == ["empty"] * 3
    assert set(r.top_level()["reason"]) == {reason}
    # the counting variants know at once, from the declines: no probe window to wait out
    assert ("probe" in kinds(r)) == (reason == "probe_empty")


SLOW_CLAIMER = (W("fast"), W("slow", claim_delay=0.08))


@pytest.mark.parametrize(
    ("variant", "outcome"),
    [("seed", "premature"), ("known", "complete"), ("sealed", "excluded"), ("ack", "complete")],
)
def test_a_slow_claimer_beside_a_fast_finisher(variant, outcome, backend):
    r = run(base(variant, workers=SLOW_CLAIMER), backend)
    assert outcomes(r) == [outcome] * 3
    top = r.top_level()
    assert (top["interested"] == 2).all()
    if variant == "seed":  # the slow worker worked for nothing, and its answer came late
        assert (top["late_partials"] == 1).all()
    if variant == "sealed":  # refused in time: it did no work, no list was recreated
        assert (top["refused"] == 1).all() and (top["wasted_work"] == 0).all()
        assert "work_start" not in set(r.events.loc[r.events.actor == "slow", "kind"].astype(str))
        assert r.meta["claim_lists_recreated"] == 0


@pytest.mark.parametrize("variant", ["seed", "sealed"])
def test_a_grace_longer_than_the_claim_gap_closes_the_race(variant, backend):
    r = run(base(variant, workers=SLOW_CLAIMER, grace=0.15, probe_window=0.5), backend)
    assert outcomes(r) == ["complete"] * 3
    assert (r.top_level()["partials"] == 2).all()
    assert "recheck" in kinds(r)


@pytest.mark.parametrize(
    ("variant", "outcome"),
    [("seed", "probe_miss"), ("known", "complete"), ("sealed", "excluded"), ("ack", "complete")],
)
def test_a_claim_later_than_the_probe(variant, outcome, backend):
    r = run(base(variant, workers=(W("late", claim_delay=0.3, work_time=0.05),)), backend)
    assert outcomes(r) == [outcome] * 3
    top = r.top_level()
    if variant == "seed":  # its work was wasted, and the claim recreated the deleted list
        assert top["wasted_work"].to_numpy() == pytest.approx([0.05] * 3, abs=0.03)
        assert r.meta["claim_lists_recreated"] == 3
    if variant == "sealed":
        assert (top["wasted_work"] == 0).all() and r.meta["claim_lists_recreated"] == 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_worker_that_dies_after_claiming_gives_timeout(variant, backend):
    r = run(base(variant, workers=1, crash=1.0), backend)
    assert outcomes(r) == ["timeout"] * 3
    assert (r.top_level()["reason"] == "deadline").all()


def two_worker_race(variant: str, grace: float = 0.0, requests: int = 4000) -> Scenario:
    return Scenario(
        workers=2,
        claim_delay=Exponential(0.02),
        work_time=Exponential(0.03),
        probe_window=1.0,
        deadline=5.0,
        requests=requests,
        concurrency=50,
        variant=variant,
        grace=grace,
        seed=11,
    )


def binomial_tolerance(p: float, n: int, sigmas: float = 4.0) -> float:
    return sigmas * math.sqrt(max(p * (1 - p), 1e-6) / n)


@pytest.mark.parametrize("grace", [0.0, 0.01, 0.03])
def test_the_model_matches_the_grace_closed_form(grace):
    sc = two_worker_race("seed", grace, requests=20_000)
    r = tl.run_sim(sc, Network.zero(), progress=False)
    want = an.two_worker_grace_race_probability(0.02, 0.03, grace)
    got = float((r.requests["outcome"] == "premature").mean())
    assert abs(got - want) <= binomial_tolerance(want, sc.requests), (got, want)


def test_on_the_race_scenario_ack_never_answers_wrongly_where_seed_races():
    seed = tl.run_sim(two_worker_race("seed"), Network(), progress=False).summary()
    ack = tl.run_sim(two_worker_race("ack"), Network(), progress=False).summary()
    want = an.two_worker_race_probability(0.02, 0.03)
    assert abs(seed["premature_rate"] - want) <= binomial_tolerance(want, 4000)
    assert ack["premature_rate"] == 0 and ack["probe_miss_rate"] == 0
    assert ack["complete_rate"] == 1


@pytest.mark.parametrize("variant", ["ack", "sealed"])
def test_the_race_scenario_on_real_redis(variant, real_redis_url):
    """On real Redis: ack answers every request completely; sealed wastes no work and
    recreates no list, and its races show as 'excluded'."""
    r = run(two_worker_race(variant, requests=300), real_redis_url)
    s, top = r.summary(), r.top_level()
    assert s["premature_rate"] == 0 and s["probe_miss_rate"] == 0
    if variant == "ack":
        assert s["complete_rate"] == 1
    else:
        assert s["excluded_rate"] > 0 and (top["wasted_work"] == 0).all()
        assert r.meta["claim_lists_recreated"] == 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_redis_counts_the_commands_and_messages_the_model_counts(variant, real_redis_url):
    sc = Scenario(workers=3, probe_window=1.0, deadline=2.0, requests=20, variant=variant)
    run(sc, real_redis_url)  # loads the scripts: a first use costs a NOSCRIPT retry each
    real, sim = run(sc, real_redis_url).meta, run(sc, "sim").meta
    assert (real["redis_commands"], real["bus_messages"]) == (
        sim["redis_commands"],
        sim["bus_messages"],
    )
