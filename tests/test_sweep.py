"""sweep(): one tidy table of many scenarios, the same whatever runs it."""

import pandas as pd
import pytest

import trustchain_lab as tl

BASE = tl.Scenario(
    task="Sweep",
    workers=3,
    interest=0.6,
    claim_delay=tl.Exponential(0.01),
    work_time=tl.Exponential(0.02),
    probe_window=0.05,
    deadline=1.0,
    requests=60,
    concurrency=4,
    seed=5,
)


def test_grid_takes_every_combination_in_order_and_refuses_what_is_not_a_field():
    scenarios = tl.grid(BASE, workers=[2, 4], interest=[0.5, 1.0])
    assert [(s.workers, s.interest) for s in scenarios] == [(2, 0.5), (2, 1.0), (4, 0.5), (4, 1.0)]
    with pytest.raises(ValueError, match="not Scenario fields: wrokers"):
        tl.grid(BASE, wrokers=[1])
    with pytest.raises(ValueError, match="no values: interest"):
        tl.grid(BASE, interest=[])


def test_a_sweep_is_the_same_with_one_process_or_two():
    scenarios = tl.grid(BASE, interest=[0.3, 0.9], variant=["seed", "sealed"])
    one = tl.sweep(scenarios, jobs=1, progress=False)
    two = tl.sweep(scenarios, jobs=2, progress=False)
    pd.testing.assert_frame_equal(one, two)
    assert list(one["interest"]) == [0.3, 0.3, 0.9, 0.9]
    assert list(one["variant"]) == ["seed", "sealed", "seed", "sealed"]
    assert (one["requests"] == 60).all() and one["requests"].dtype.kind == "i"
    for figure in ("latency_p50_s", "complete_rate", "premature_rate"):
        low, high = one[f"{figure}_lo"], one[f"{figure}_hi"]
        assert (low <= one[figure]).all() and (one[figure] <= high).all()
    # each row is that scenario's own summary
    alone = tl.run_sim(scenarios[3], progress=False).summary()
    assert one.loc[3, "complete_rate"] == alone["complete_rate"]


def test_a_sweep_runs_on_a_local_dask_cluster():
    import distributed  # a dev dependency: never skipped

    scenarios = tl.grid(BASE, workers=[2, 3])
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_dask = tl.sweep(scenarios, executor=client.get_executor(), progress=False)
    pd.testing.assert_frame_equal(on_dask, tl.sweep(scenarios, jobs=1, progress=False))


def test_a_sweep_on_redis_gives_the_same_schema(backend_url):
    scenarios = tl.grid(BASE.replace(requests=20), workers=[2])
    real = tl.sweep(scenarios, "redis", redis_url=backend_url, progress=False)
    sim = tl.sweep(scenarios, "sim", jobs=1, progress=False)
    assert list(real.columns) == list(sim.columns)
    assert real.loc[0, "requests"] == 20 and real.loc[0, "backend"] in ("redis", "fakeredis")


def test_bad_input_is_refused_in_one_line():
    with pytest.raises(ValueError, match="no scenarios"):
        tl.sweep([])
    with pytest.raises(TypeError, match="Scenario objects, got dict"):
        tl.sweep([{"workers": 2}])
    with pytest.raises(ValueError, match="backend must be one of"):
        tl.sweep([BASE], "rabbit")
    with pytest.raises(ValueError, match="jobs must be an int >= 1"):
        tl.sweep([BASE], jobs=0)


def test_scalar_axes_and_a_script_without_a_main_guard_get_one_line_errors(tmp_path):
    import subprocess
    import sys

    with pytest.raises(ValueError, match="axis 'variant' must be a list of values"):
        tl.grid(BASE, variant="sealed")
    with pytest.raises(TypeError, match="network must be a Network"):
        tl.sweep([BASE], network="fast")
    assert len(tl.sweep(BASE, jobs=1, progress=False)) == 1  # a lone scenario is a sweep
    script = tmp_path / "noguard.py"
    script.write_text(
        "import trustchain_lab as tl\n"
        "sc = tl.Scenario(workers=2, requests=5)\n"
        "tl.sweep(tl.grid(sc, workers=[2, 3]), jobs=2, progress=False)\n"
    )
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode != 0
    assert "if __name__ == '__main__'" in run.stderr.strip().splitlines()[-1]


def test_measure_adds_columns_computed_where_the_scenario_ran():
    from benchmarks.fanout import mean_and_commands

    scenarios = tl.grid(BASE, workers=[1, 3])
    two = tl.sweep(scenarios, jobs=2, progress=False, measure=mean_and_commands)
    for row, sc in zip(two.to_dict("records"), scenarios, strict=True):
        top = tl.run_sim(sc, progress=False).top_level()
        assert row["latency_mean"] == pytest.approx(top["latency"].mean())
        assert row["commands_per_request"] > 0
    with pytest.raises(TypeError, match="measure must be a function"):
        tl.sweep(scenarios, measure="latency_mean")
