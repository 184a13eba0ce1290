"""The lab's real backend: deterministic scenarios for every outcome, on both backends."""

import math
import warnings

import numpy as np
import pytest
from redis import Redis

import trustchain_lab as tl
from trustchain_lab import Const, Exponential, Scenario, SubTask, WorkerSpec
from trustchain_lab.target import FAKEREDIS

W = WorkerSpec


def run(sc: Scenario, url: str) -> tl.RunResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tl.FakeRedisWarning)
        return tl.run_redis(sc, url, progress=False)


def outcomes(result: tl.RunResult) -> list[str]:
    return result.top_level()["outcome"].astype(str).tolist()


def base(**kw) -> Scenario:
    return Scenario(**{"probe_window": 0.15, "deadline": 0.6, "requests": 3, **kw})


def test_all_claim_early_gives_complete(backend_url):
    r = run(base(workers=3, work_time=Exponential(0.01)), backend_url)
    assert outcomes(r) == ["complete"] * 3
    assert (r.top_level()["partials"] == 3).all()
    assert r.backend == ("fakeredis" if backend_url == FAKEREDIS else "redis")


def test_slow_claimer_beside_fast_finisher_gives_premature(backend_url):
    workers = (W("fast"), W("slow", claim_delay=0.08))
    r = run(base(workers=workers), backend_url)
    assert outcomes(r) == ["premature"] * 3
    top = r.top_level()
    assert (top["partials"] == 1).all() and (top["interested"] == 2).all()
    assert (top["late_partials"] == 1).all()


def test_claim_later_than_the_probe_gives_probe_miss(backend_url):
    r = run(base(workers=(W("late", claim_delay=0.3, work_time=0.05),)), backend_url)
    assert outcomes(r) == ["probe_miss"] * 3
    top = r.top_level()
    assert (top["claims_at_probe"] == 0).all()
    assert top["wasted_work"].to_numpy() == pytest.approx([0.05] * 3, abs=0.03)


def test_nobody_interested_gives_empty_after_the_probe_window(backend_url):
    r = run(base(workers=2, interest=0.0), backend_url)
    assert outcomes(r) == ["empty"] * 3
    lat = r.top_level()["latency"]
    assert (lat >= 0.15).all() and (lat < 0.15 + 0.1).all()


def test_crash_after_claiming_gives_timeout(backend_url):
    r = run(base(workers=1, crash=1.0), backend_url)
    assert outcomes(r) == ["timeout"] * 3
    assert (r.events["kind"] == "crash").sum() == 3
    assert (r.top_level()["latency"] >= 0.6).all()


def seed_example(requests=2) -> Scenario:
    bar = SubTask("Bar", (W("S3", work_time=0.01),))
    workers = (
        W("S1", work_time=0.01, subtask=bar),
        W("S2", work_time=0.005),
        W("S3", interest=0.0),
    )
    return Scenario(task="Foo", workers=workers, probe_window=0.2, deadline=2, requests=requests)


def test_the_seed_example_runs_nested(backend_url):
    r = run(seed_example(), backend_url)
    req = r.requests
    assert req["task"].tolist().count("Bar") == 2
    assert (req["outcome"] == "complete").all()
    first = r.top_level()["request_id"].iloc[0]
    diagram = r.to_mermaid(first)
    for line in (
        "C->>+gateway: Blocking request",
        "Note over S3: not interested in Foo",
        "S1->>M: Publish Bar",
        "M-->>S3: Bar",
        "gateway->>-C: Send response",
    ):
        assert line in diagram


def test_many_requests_in_flight_and_no_keys_left(real_redis_url):
    client = Redis.from_url(real_redis_url)
    try:
        client.flushdb()
        sc = Scenario(
            workers=4,
            interest=0.6,
            claim_delay=Exponential(0.02),
            crash=0.05,
            work_time=Exponential(0.02),
            probe_window=0.1,
            deadline=0.5,
            requests=120,
            concurrency=40,
            seed=2,
        )
        r = run(sc, real_redis_url)
        assert client.dbsize() == 0, "the run left keys in Redis"
    finally:
        client.close()
    top = r.top_level()
    assert len(top) == 120 and top["index"].tolist() == list(range(120))
    assert top["t_final"].notna().all()
    # common random numbers: every worker's interest decision is the scenario's draw
    draws = sc.draws()
    ev = r.events[r.events["kind"] == "interest"]
    idx = top.set_index("request_id")["index"]
    names = [s.name for s in sc.slots()]
    got = np.zeros_like(draws.interested)
    for row in ev.itertuples():
        got[idx[str(row.request_id)], names.index(str(row.actor))] = row.value == 1
    assert np.array_equal(got, draws.interested)
    assert r.meta["malformed_messages"] == 0 and r.meta["redis_version"]


def test_probe_miss_rate_matches_the_closed_form_on_real_redis(real_redis_url):
    """One always-interested worker, claim delay Exp(mean m), probe w: P(miss) = exp(-w/m)."""
    m, w, n = 0.05, 0.1, 400
    sc = Scenario(
        workers=1,
        claim_delay=Exponential(m),
        probe_window=w,
        deadline=1.0,
        requests=n,
        concurrency=50,
        seed=7,
    )
    r = run(sc, real_redis_url)
    p = math.exp(-w / m)
    rate = r.summary()["probe_miss_rate"]
    # 4 binomial standard errors; the complement is complete (nothing else can happen here)
    assert abs(rate - p) <= 4 * math.sqrt(p * (1 - p) / n), (rate, p)
    assert r.summary()["complete_rate"] == pytest.approx(1 - rate)


def test_run_result_saves_and_loads(tmp_path):
    r = run(seed_example(requests=1), FAKEREDIS)
    back = tl.RunResult.load(r.save(tmp_path / "run"))
    assert back.backend == "fakeredis" and back.scenario == r.scenario
    assert back.requests.equals(r.requests)
    assert back.events.equals(r.events)
    assert back.meta["redis_py_version"] == r.meta["redis_py_version"]
    with pytest.raises(FileNotFoundError, match=r"meta\.json"):
        tl.RunResult.load(tmp_path)


def test_fakeredis_fallback_warns(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr("trustchain_lab.target.redis_server_binary", lambda: None)
    with pytest.warns(tl.FakeRedisWarning, match="not Redis timings"):
        r = tl.run_redis(base(requests=1, workers=1), progress=False)
    assert r.backend == "fakeredis"


def test_run_redis_works_inside_a_running_loop():
    async def inside():
        return tl.run_redis(base(requests=1, workers=1), FAKEREDIS, progress=False)

    import asyncio

    assert outcomes(asyncio.run(inside())) == ["complete"]


def test_a_swim_lane_figure_of_one_request():
    import matplotlib

    matplotlib.use("Agg")
    r = run(seed_example(requests=1), FAKEREDIS)
    ax = r.plot_request()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "gateway" and sorted(labels[1:]) == ["S1", "S2", "S3"]
    assert "complete" in ax.get_title()
    with pytest.raises(ValueError, match="no request"):
        r.plot_request("nope")
    assert Const(0).expected == 0


def test_known_recipients_variant_waits_for_every_worker(backend_url):
    sc = base(workers=3, interest=0.5, variant="known", seed=3)
    r = run(sc, backend_url)
    top = r.top_level()
    assert (top["reason"] == "all_replied").all() and (top["partials"] == 3).all()
    assert outcomes(r) == ["complete"] * 3
    assert (r.events["kind"] == "claim").sum() == 0  # nobody claims in this variant
    sim = tl.run_sim(sc)
    assert sim.top_level()["reason"].tolist() == ["all_replied"] * 3


def test_the_fakeredis_fallback_takes_hundreds_of_requests_in_flight():
    """The main job runs on fakeredis where no Redis is found, throughput suite included."""
    sc = Scenario(workers=4, probe_window=1.0, deadline=5.0, requests=300, concurrency=256)
    result = run(sc, FAKEREDIS)
    assert outcomes(result).count("complete") == 300
