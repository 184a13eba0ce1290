"""Placements: workers inline, in their own processes, in their own network namespaces;
links with a delay. Same trace schema, same answers, nothing left behind."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import trustchain_lab as tl
from trustchain_lab.link import Link
from trustchain_lab.netns import NamespaceError, leftovers

SCENARIO = tl.Scenario(
    task="Place",
    workers=3,
    interest=0.7,
    claim_delay=tl.Exponential(0.004),
    work_time=tl.LogNormal(median=0.02, sigma=0.5),
    crash=0.05,
    probe_window=0.15,
    deadline=1.0,
    requests=40,
    concurrency=4,
    seed=8,
)


def stray_processes() -> list[str]:
    """Command lines of running worker hosts and link proxies (read from /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if any(a in (b"trustchain_lab.worker_host", b"trustchain_lab.link") for a in argv):
            found.append(b" ".join(argv).decode(errors="replace"))
    return found


@pytest.mark.parametrize("placement", ["processes", "hosts"])
def test_a_placement_gives_the_inline_schema_and_answers(placement, real_redis_url, request):
    if placement == "hosts":
        request.getfixturevalue("namespaces")
    inline = tl.run_redis(SCENARIO, real_redis_url, progress=False)
    placed = tl.run_redis(SCENARIO, real_redis_url, placement=placement, progress=False)
    assert list(placed.events.columns) == list(inline.events.columns)
    assert list(placed.requests.columns) == list(inline.requests.columns)
    kinds = [str(getattr(t, "name", t)) for t in placed.events.dtypes]
    assert kinds == [str(getattr(t, "name", t)) for t in inline.events.dtypes]
    a, b = (r.top_level().sort_values("index") for r in (inline, placed))
    # the draws decide every outcome here (claims land ms apart): the same answers
    assert a["outcome"].tolist() == b["outcome"].tolist()
    assert set(placed.events["actor"].astype(str)) == set(inline.events["actor"].astype(str))
    assert placed.meta["placement"] == placement and placed.meta["markers_left"] == 0
    assert (placed.events["t"] >= 0).all()  # every process's clock merged onto the run's
    assert stray_processes() == [] and leftovers() == []


def test_a_link_delays_every_request_by_at_least_its_one_way_trips(real_redis_url):
    delay = 0.01
    r = tl.run_redis(SCENARIO, real_redis_url, link=Link(delay), progress=False)
    top = r.top_level()
    answered = top[top["outcome"] == "complete"]
    # the task reaches a worker (dispatcher -> Redis -> worker) and its partial comes
    # back (worker -> Redis -> dispatcher): four one-way trips at least
    assert (answered["latency"] >= 4 * delay).all()
    assert r.meta["link"] == {"delay": delay, "jitter": 0.0}
    assert stray_processes() == []


def test_placements_and_links_refuse_what_they_cannot_do(monkeypatch):
    with pytest.raises(ValueError, match="placement must be one of"):
        tl.run_redis(SCENARIO, "fakeredis", placement="cloud")
    with pytest.raises(TypeError, match=r"link must be a trustchain_lab\.Link"):
        tl.run_redis(SCENARIO, "fakeredis", link=0.01)
    with pytest.raises(tl.NoRedisError, match="needs a real Redis"):
        tl.run_redis(SCENARIO, "fakeredis", placement="processes")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(NamespaceError, match="needs root"):
        tl.run_redis(SCENARIO, "fakeredis", placement="hosts")


def test_ctrl_c_removes_every_process_and_namespace(real_redis_url, namespaces, tmp_path):
    script = tmp_path / "run.py"
    long = SCENARIO.replace(requests=100_000, concurrency=2)
    script.write_text(
        textwrap.dedent(
            f"""
            import trustchain_lab as tl
            from trustchain_lab.link import Link
            sc = tl.Scenario.from_dict({long.to_dict()!r})
            tl.run_redis(sc, {real_redis_url!r}, placement="hosts", link=Link(0.001),
                         progress=False)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(stray_processes()) < 3:  # 3 hosts, 1 proxy
            time.sleep(0.2)
        assert len(stray_processes()) >= 3 and leftovers() != []  # the run is under way
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert b"KeyboardInterrupt" in err
    assert stray_processes() == [] and leftovers() == []


async def test_a_worker_process_that_dies_is_named_in_a_one_line_error(real_redis_url):
    from trustchain_lab.worker_host import ProcessWorkers, WorkerHostError

    hosts = ProcessWorkers(SCENARIO, "tclab-dies", real_redis_url, [["Place-w0"], ["Place-w1"]])
    try:
        await hosts.start()
        hosts.procs[1].kill()
        with pytest.raises(WorkerHostError, match=r"worker process 1 \(Place-w1\)"):
            await hosts.drain(budget=5.0)
    finally:
        await hosts.close()
    assert all(p.returncode is not None for p in hosts.procs)
