"""Where the model holds: paired comparison, the bar, validity ranges, the report's note."""

import pandas as pd
import pytest

import trustchain_lab as tl
from trustchain_lab.fidelity import compare, family, holds, outside, validity_ranges

SC = tl.Scenario(
    task="Fid",
    workers=3,
    interest=0.7,
    claim_delay=tl.Exponential(0.004),
    work_time=tl.LogNormal(median=0.02, sigma=0.5),
    requests=60,
    concurrency=4,
    seed=2,
)


def test_a_run_compared_with_itself_agrees_and_holds():
    run = tl.run_sim(SC, progress=False)
    row = compare(SC, run, run)
    assert row["agreement"] == 1.0 and row["p50_ratio"] == 1.0 and row["holds"]
    assert (row["workers"], row["in_flight"], row["requests"]) == (3, 4, 60)
    slower = tl.run_sim(SC, tl.Network(one_way=0.004), progress=False)
    row = compare(SC, slower, run)
    assert row["p50_ratio"] > 1.10 and not row["holds"]
    assert row["p50_ratio_lo"] <= row["p50_ratio"] <= row["p50_ratio_hi"]


def test_the_model_on_real_redis_agrees_request_by_request(real_redis_url):
    net = tl.calibrate(real_redis_url, repeats=1)
    real = tl.run_redis(SC, real_redis_url, progress=False)
    row = compare(SC, real, tl.run_sim(SC, net, progress=False))
    assert row["agreement"] >= 0.9  # a behaviour check; the bar is measured by the suite


def grid_rows(placement, scenario, workers, verdicts):
    return [
        {
            "placement": placement,
            "scenario": scenario,
            "workers": workers,
            "in_flight": c,
            "holds": ok,
        }
        for c, ok in verdicts
    ]


def test_validity_ranges_stop_at_the_first_failure_and_outside_says_why():
    grid = pd.DataFrame(
        grid_rows("inline", "light", 2, [(1, True), (16, True), (64, False), (256, True)])
        + grid_rows("inline", "race", 2, [(1, True), (16, False), (64, True), (256, True)])
        + grid_rows("inline", "light", 16, [(1, False), (16, True), (64, True), (256, True)])
    )
    ranges = validity_ranges(grid)
    limits = {(r.scenario, r.workers): r.max_in_flight for r in ranges.itertuples()}
    assert limits == {("light", 2): 16, ("race", 2): 1, ("light", 16): 0}
    assert outside(ranges, "inline", 2, 1) is None
    assert "beyond the validated 1" in outside(ranges, "inline", 2, 8)  # race's range
    assert "beyond the checked N <= 16" in outside(ranges, "inline", 64, 1)
    assert "not checked" in outside(ranges, "processes", 2, 1)
    assert holds({"agreement": 0.95, "p50_ratio": 1.09, "p99_ratio": 0.76})
    assert not holds({"agreement": 0.94, "p50_ratio": 1.0, "p99_ratio": 1.0})


def test_a_point_without_work_is_judged_by_the_bare_scenarios_range():
    from benchmarks.fidelity import scenario

    assert family(scenario("bare", 4, 1, 10, 1)) == "bare"
    assert family(scenario("light", 4, 1, 10, 1)) == family(scenario("race", 4, 1, 10, 1))
    assert family(scenario("light", 4, 1, 10, 1)) == "work"
    idle = tl.WorkerSpec(work_time=0.0, claim_delay=0.0)
    mixed = SC.replace(workers=(tl.WorkerSpec(), tl.WorkerSpec(), idle))
    assert family(mixed) == "bare"  # one bare worker: the stricter ranges
    never = tl.WorkerSpec(interest=0.0, work_time=0.0, claim_delay=0.0)
    assert family(SC.replace(workers=(tl.WorkerSpec(), never))) == "work"  # never claims
    assert family(SC.replace(work_time=0.0, claim_delay=0.02)) == "work"  # time in claims
    grid = pd.DataFrame(
        grid_rows("inline", "light", 4, [(1, True), (16, True), (64, False)])
        + grid_rows("inline", "bare", 4, [(1, True), (16, False), (64, False)])
    )
    ranges = validity_ranges(grid)
    assert outside(ranges, "inline", 4, 16) is None  # with work: light's range
    assert "16 in flight at N = 4, no work is beyond the validated 1" in outside(
        ranges, "inline", 4, 16, "bare"
    )
    older = ranges[ranges["scenario"] != "bare"]  # a map made before the bare scenario
    assert "scenarios without work were not checked" in outside(older, "inline", 4, 1, "bare")
    assert "N = 64, no work is beyond the checked" in outside(ranges, "inline", 64, 1, "bare")
    with pytest.raises(ValueError, match="family must be 'work' or 'bare'"):
        outside(ranges, "inline", 4, 1, "light")


def test_a_report_says_when_the_model_is_asked_outside_its_range(tmp_path, monkeypatch):
    import types

    from benchmarks import __main__ as cli
    from benchmarks.core import SuiteOutput
    from benchmarks.fidelity import VALIDITY_FILE

    old = tmp_path / "20260101-000000-fidelity"
    old.mkdir()
    pd.DataFrame(
        [
            {
                "placement": "inline",
                "scenario": "light",
                "workers": 4,
                "max_in_flight": 16,
                "checked_up_to": 64,
            }
        ]
    ).to_csv(old / VALIDITY_FILE, index=False)
    module = types.ModuleType("fake_asks")
    module.TITLE, module.DESCRIPTION = "Asks the model", "a fake suite"

    def run(ctx):
        for c in (8, 64):
            ctx.run(SC.replace(concurrency=c, requests=8), "sim")
        ctx.run(SC.replace(concurrency=1, requests=8, work_time=0, claim_delay=0), "sim")
        return SuiteOutput("asks", module.TITLE, pd.DataFrame({"x": [1]}), "text")

    module.run = run
    monkeypatch.setitem(__import__("sys").modules, "fake_asks", module)
    monkeypatch.setitem(cli.SUITES, "asks", "fake_asks")
    assert cli.main(["asks", "--backend", "sim", "--out", str(tmp_path)]) == 0
    report = next(p for p in tmp_path.glob("*-asks/report.md")).read_text()
    assert "2 of 3 model points lie outside" in report
    assert "64 in flight at N = 3 is beyond the validated 16" in report
    assert "scenarios without work were not checked (inline)" in report


def test_calibrating_for_a_link_puts_its_delay_and_the_proxy_in_the_model(real_redis_url):
    direct = tl.calibration.measure(real_redis_url, repeats=1)
    cal = tl.calibration.measure(real_redis_url, repeats=1, link=tl.Link(0.005))
    assert cal.measured["link_delay"] == 0.005 and cal.measured["proxy_one_way"] > 0
    added = cal.network.one_way - direct.network.one_way
    assert added >= 0.005 + cal.measured["proxy_one_way"] - 0.0005  # the link, the proxy
