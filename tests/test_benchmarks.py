"""``python -m benchmarks``: the command line, the report folder, interruption, compare."""

import subprocess
import sys
import types

import pandas as pd
import pytest

from benchmarks import __main__ as cli
from benchmarks.core import SuiteOutput


def test_help_lists_every_suite():
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for name in cli.SUITES:
        assert f"  {name} " in out
    assert "compare OLD_DIR NEW_DIR" in out


def test_an_unknown_suite_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["nope"])
    assert stop.value.code == 2
    assert "unknown suite(s): nope" in capsys.readouterr().err


def test_backend_redis_without_redis_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr("trustchain_lab.target.redis_server_binary", lambda: None)
    assert cli.main(["latency", "--backend", "redis", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no Redis") and "REDIS_URL" in err[0]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis://127.0.0.1:1/0", "cannot use the Redis at redis://127.0.0.1:1/0"),
        ("nonsense://x", "malformed Redis URL"),
    ],
)
def test_an_unusable_redis_url_is_a_one_line_error_and_leaves_no_folder(
    url, says, tmp_path, capsys
):
    assert (
        cli.main(["latency", "--backend", "redis", "--redis-url", url, "--out", str(tmp_path)]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {says}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "nonsense://x"])
def test_the_api_says_no_redis_in_one_line_for_an_unusable_url(url):
    import trustchain_lab as tl

    with pytest.raises(tl.NoRedisError, match="Redis") as caught:
        tl.run_redis(tl.Scenario(requests=1), url)
    assert "\n" not in str(caught.value)
    with pytest.raises(tl.NoRedisError):
        tl.calibrate(url)


def test_the_faults_suite_says_why_it_skips_without_a_redis_server(monkeypatch, tmp_path):
    monkeypatch.setattr("benchmarks.faults.redis_server_binary", lambda: None)
    assert cli.main(["faults", "--quick", "--redis-url", "fakeredis", "--out", str(tmp_path)]) == 0
    report = (run_folder(tmp_path) / "report.md").read_text()
    assert "**Skipped**: it needs redis-server on PATH" in report
    assert "status: **complete**" in report


def run_folder(parent):
    (folder,) = [p for p in parent.iterdir() if p.is_dir()]
    return folder


def test_a_quick_suite_on_real_redis_writes_data_figures_and_report(real_redis_url, tmp_path):
    assert (
        cli.main(["latency", "--quick", "--out", str(tmp_path), "--redis-url", real_redis_url]) == 0
    )
    folder = run_folder(tmp_path)
    assert {"latency.csv", "latency.png", "report.md", "meta.json"} <= {
        p.name for p in folder.iterdir()
    }
    report = (folder / "report.md").read_text()
    assert "status: **complete**" in report and "Outcomes agree on" in report
    data = pd.read_csv(folder / "latency.csv")
    assert set(data["backend"]) == {"sim", "redis"}


def test_fakeredis_runs_say_that_real_timings_are_missing(tmp_path, capsys):
    assert cli.main(["races", "--quick", "--out", str(tmp_path), "--redis-url", "fakeredis"]) == 0
    assert "note: no Redis found" in capsys.readouterr().err  # on the console too
    report = (run_folder(tmp_path) / "report.md").read_text()
    assert "real-Redis timings are missing" in report
    assert "| 0.5 | 0.3333 |" in report  # the closed form for a/b = 0.5


def fake_suite(name, value=1.0, interrupt=False, fail=None):
    module = types.ModuleType(f"fake_{name}")
    module.TITLE, module.DESCRIPTION = f"Fake {name}", "a fake suite"

    def run(ctx):
        if interrupt:
            raise KeyboardInterrupt
        if fail is not None:
            raise fail
        return SuiteOutput(
            name, module.TITLE, pd.DataFrame({"x": [1]}), "fake text", headline={"figure": value}
        )

    module.run = run
    return module


@pytest.fixture
def fake_suites(monkeypatch):
    def install(**modules):
        for name, module in modules.items():
            monkeypatch.setitem(sys.modules, f"fake_{name}", module)
            monkeypatch.setitem(cli.SUITES, name, f"fake_{name}")

    return install


def test_ctrl_c_leaves_a_partial_but_valid_report(fake_suites, tmp_path):
    fake_suites(ok=fake_suite("ok"), boom=fake_suite("boom", interrupt=True))
    assert cli.main(["ok", "boom", "--backend", "sim", "--out", str(tmp_path)]) == 130
    folder = run_folder(tmp_path)
    report = (folder / "report.md").read_text()
    assert "interrupted during suite 'boom'" in report and "## Fake ok" in report
    assert (folder / "ok.csv").is_file() and not (folder / "boom.csv").exists()


def test_redis_going_away_mid_run_is_a_one_line_error_and_a_failed_report(
    fake_suites, tmp_path, capsys
):
    from redis.exceptions import ConnectionError as RedisConnectionError

    gone = RedisConnectionError("Error 111 connecting to 127.0.0.1:6390")
    fake_suites(ok=fake_suite("ok"), gone=fake_suite("gone", fail=gone))
    assert cli.main(["ok", "gone", "--backend", "sim", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: suite 'gone' failed: Error 111")
    report = (run_folder(tmp_path) / "report.md").read_text()
    assert "failed during suite 'gone'" in report and "## Fake ok" in report


def test_a_bug_in_a_suite_still_marks_the_report_failed(fake_suites, tmp_path):
    fake_suites(bug=fake_suite("bug", fail=ZeroDivisionError("oops")))
    with pytest.raises(ZeroDivisionError):
        cli.main(["bug", "--backend", "sim", "--out", str(tmp_path)])
    assert "status: **failed during suite 'bug'" in (run_folder(tmp_path) / "report.md").read_text()


def test_compare_reports_each_figure_change(fake_suites, tmp_path, capsys):
    fake_suites(ok=fake_suite("ok", 2.0))
    assert cli.main(["ok", "--backend", "sim", "--out", str(tmp_path / "a")]) == 0
    fake_suites(ok=fake_suite("ok", 3.0))
    assert cli.main(["ok", "--backend", "sim", "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    old, new = run_folder(tmp_path / "a"), run_folder(tmp_path / "b")
    assert cli.main(["compare", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "[ok]" in out and "+50.0%" in out
    assert cli.main(["compare", str(tmp_path), str(new)]) == 2
    assert "not a benchmark run folder" in capsys.readouterr().err


def suite_with_interval(value, low, high):
    module = fake_suite("noisy")

    def run(ctx):
        headline = {"rate": value, "rate_lo": low, "rate_hi": high, "bare": value}
        return SuiteOutput("noisy", module.TITLE, pd.DataFrame({"x": [1]}), "", headline=headline)

    module.run = run
    return module


@pytest.mark.parametrize(
    ("old", "new", "verdict"),
    [
        ((0.20, 0.15, 0.26), (0.24, 0.18, 0.30), "within noise"),  # each inside the other's
        ((0.20, 0.15, 0.26), (0.30, 0.24, 0.37), "outside both intervals"),
        ((0.20, 0.12, 0.30), (0.28, 0.25, 0.31), "within noise"),  # only new in the old's
        ((0.90, 0.85, float("nan")), (0.50, 0.40, 0.60), "outside both intervals"),  # a tail
        ((0.50, 0.40, float("nan")), (0.90, 0.85, 0.95), "within noise"),  # open upwards
    ],
)
def test_compare_marks_changes_within_noise(fake_suites, tmp_path, capsys, old, new, verdict):
    fake_suites(noisy=suite_with_interval(*old))
    assert cli.main(["noisy", "--backend", "sim", "--out", str(tmp_path / "a")]) == 0
    fake_suites(noisy=suite_with_interval(*new))
    assert cli.main(["noisy", "--backend", "sim", "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    folders = [str(run_folder(tmp_path / k)) for k in ("a", "b")]
    assert cli.main(["compare", *folders]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert lines["rate"].endswith(verdict) and "rate_lo" not in lines
    assert lines["bare"].endswith("(no interval)")
    report = (run_folder(tmp_path / "b") / "report.md").read_text()
    assert f"| noisy | rate | {new[0]:.4g} | [{new[1]:.4g}, {new[2]:.4g}] |" in report
    # a NaN bound: too few requests to bound that tail, so the interval is open that side


def timed_suite(value, low, high):
    module = fake_suite("timed")

    def run(ctx):
        headline = {"p50": value, "p50_lo": low, "p50_hi": high, "rate": value}
        headline |= {"rate_lo": low, "rate_hi": high}
        frame = pd.DataFrame({"x": [1]})
        return SuiteOutput("timed", module.TITLE, frame, "", headline=headline, timings=["p50"])

    module.run = run
    return module


@pytest.mark.parametrize(
    ("old_loop", "new_loop", "moved"),
    [
        ((0.010, 0.010), (0.020, 0.020), True),  # twice as slow between the runs
        ((0.010, 0.011), (0.0105, 0.010), False),  # within 10 %
        ((0.010, 0.025), (0.020, 0.020), False),  # moved as much within the old run
    ],
)
def test_compare_says_when_the_machine_moved(
    fake_suites, monkeypatch, tmp_path, capsys, old_loop, new_loop, moved
):
    for folder, loop, value in (
        ("a", old_loop, (0.20, 0.18, 0.22)),
        ("b", new_loop, (0.30, 0.28, 0.32)),
    ):
        probes = iter([{"python_loop_s": t} for t in loop])
        monkeypatch.setattr("benchmarks.machine.probe", lambda url, probes=probes: next(probes))
        fake_suites(timed=timed_suite(*value))
        assert cli.main(["timed", "--backend", "sim", "--out", str(tmp_path / folder)]) == 0
    capsys.readouterr()
    assert cli.main(["compare", *(str(run_folder(tmp_path / k)) for k in "ab")]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert lines["python_loop_s"].endswith("MOVED") == moved
    # a figure timed on real Redis is not attributed to the code when the machine moved;
    # one the suite does not list as a timing keeps its plain verdict
    expected = "outside both intervals" + (", but the machine moved" if moved else "")
    assert lines["p50"].endswith(expected) and lines["rate"].endswith("outside both intervals")
    report = (run_folder(tmp_path / "b") / "report.md").read_text()
    assert f"start: Python loop {new_loop[0] * 1e3:.1f} ms" in report
