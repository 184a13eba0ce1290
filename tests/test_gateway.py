"""The HTTP gateway and the worker processes, end to end over real HTTP and a real Redis:
answers, nobody interested, bad input, Redis gone, and no process left behind."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from benchmarks import gateway as gateway_suite
from benchmarks.core import Context
from trustchain_lab import worker as worker_cli
from trustchain_lab.chain import Keys
from trustchain_lab.gateway import Deployment, make_app
from trustchain_lab.redis_server import RedisServer

TASK = "Sum"
TIMEOUT = aiohttp.ClientTimeout(total=30)  # every request is bounded


def gone(pid: int) -> bool:
    """Whether no process has this pid any more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
async def deployment(server: RedisServer) -> AsyncIterator[Deployment]:
    """Gateway and workers of one test on its own Redis; afterwards, pass or fail, every
    process is stopped and gone."""
    d = Deployment(server.url, TASK)
    try:
        yield d
    finally:
        await d.stop()
        left = [pid for pid in d.pids if not gone(pid)]
        assert not left, f"processes left behind: {left}"


async def post(url: str, body: bytes | str, task: str = TASK) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.post(f"{url}/tasks/{task}", data=body) as response,
    ):
        return response.status, await response.json()


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        # seed: a claim that lands after another worker's reply emptied the list makes a
        # premature answer (suite races): 400 ms of work gives every claim that long
        ((), "claims_drained"),
        (("--variant", "known", "--expect", "5"), "all_replied"),  # waits for all five
    ],
)
async def test_the_answer_holds_one_partial_per_interested_worker(deployment, options, reason):
    url = await deployment.start_gateway(*options)
    keen = await deployment.add_workers(3, "--work-ms", "400")
    await deployment.add_workers(2, "--interest", "0")
    answers = await asyncio.gather(*(post(url, f'{{"i": {i}}}') for i in range(8)))
    for code, body in answers:
        assert code == 200, body
        assert body["reason"] == reason and not body["empty"]
        work = [p for p in body["partials"] if p["interested"]]
        assert sorted(p["worker"] for p in work) == sorted(keen)
        assert all(p["ok"] and p["result"]["worker"] == p["worker"] for p in work)
        assert body["latency_s"] > 0
    assert len({body["request_id"] for _, body in answers}) == 8


@pytest.mark.parametrize("uninterested", [0, 2])
async def test_nobody_interested_is_an_answer_with_its_reason(deployment, uninterested):
    url = await deployment.start_gateway("--probe-window", "0.1")
    await deployment.add_workers(uninterested, "--interest", "0")
    code, body = await post(url, "{}")
    assert code == 200
    assert body["reason"] == "probe_empty" and body["empty"] and body["partials"] == []


@pytest.mark.parametrize(
    ("body", "task", "code", "says"),
    [
        ('{"a": ', TASK, 400, "the body is not JSON"),
        ("[1, 2]", TASK, 400, "must be a JSON object, got list"),
        ('{"x": NaN}', TASK, 400, "not JSON-serialisable"),
        ("{}", "a*b", 400, "task name 'a*b'"),
        ("{}", "Other", 404, "not served here"),
    ],
)
async def test_bad_requests_get_a_one_line_error(deployment, body, task, code, says):
    url = await deployment.start_gateway()
    got, answer = await post(url, body, task)
    assert got == code
    assert says in answer["error"] and "\n" not in answer["error"]


async def test_redis_gone_is_503_not_a_wrong_answer_and_everything_stops_cleanly(
    server, deployment
):
    url = await deployment.start_gateway()
    await deployment.add_workers(2)
    code, body = await post(url, "{}")
    assert code == 200 and body["reason"] == "claims_drained"
    server.kill()
    code, body = await post(url, "{}")
    assert code == 503 and "partials" not in body
    assert "\n" not in body["error"]
    assert await deployment.stop() == [0, 0, 0]  # SIGTERM: exit 0, with Redis gone too
    assert all(gone(pid) for pid in deployment.pids)


def run_cli(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(worker_cli.__file__).parents[1])},
    )


@pytest.mark.parametrize("module", ["trustchain_lab.gateway", "trustchain_lab.worker"])
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--redis-url", "redis://127.0.0.1:1/0"], "error: cannot use the Redis at"),
        (["--redis-url", "nonsense://x"], "error: malformed Redis URL"),
        (["--task", "a b"], "holds ' '"),
    ],
)
def test_the_commands_fail_in_one_line(module, args, says):
    done = run_cli(module, "--task", TASK, *args)
    assert done.returncode == 2
    assert says in done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr


async def test_the_app_in_process_answers_and_says_504_at_the_deadline(real_redis_url):
    """``make_app`` and ``worker.serve`` embedded: a worker slower than the deadline."""
    keys = Keys(f"gw-{os.getpid()}")
    stop, ready = asyncio.Event(), asyncio.Event()

    def on_ready(_: object) -> None:
        ready.set()

    serving = asyncio.create_task(
        worker_cli.serve(
            real_redis_url, TASK, stop, name="slow", work_ms=1500, keys=keys, ready=on_ready
        )
    )
    app = make_app(real_redis_url, tasks=[TASK], probe_window=0.1, deadline=0.4, keys=keys)
    try:
        await asyncio.wait_for(ready.wait(), 15)
        async with TestClient(TestServer(app)) as client:
            response = await client.post(f"/tasks/{TASK}", json={"i": 1})
            body = await response.json()
            assert response.status == 504
            assert body["reason"] == "deadline" and body["partials"] == []
            assert body["missing"] == ["slow"]  # claimed, never replied in time
            big = await client.post(f"/tasks/{TASK}", json={"x": "y" * (1 << 20)})
            assert big.status == 413 and "error" in await big.json()
    finally:
        stop.set()
        slow = await asyncio.wait_for(serving, 30)
    assert slow.handler_errors == 0 and slow.redis_errors == 0


def test_bad_timings_are_refused_when_the_app_is_made():
    with pytest.raises(ValueError, match="probe_window"):
        make_app("redis://127.0.0.1:1/0", probe_window=2.0, deadline=1.0)
    with pytest.raises(ValueError, match="needs expect"):
        make_app("redis://127.0.0.1:1/0", variant="known")


def children(name: str) -> list[int]:
    """Pids of this process's children whose command line holds ``name`` (Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
        if ppid == os.getpid() and name.encode() in cmdline:
            found.append(int(stat.parent.name))
    return found


async def test_the_suite_measures_every_k_and_leaves_no_process(server):
    df = await gateway_suite.measure(server.url, (1, 2), 24)
    assert list(df["workers"]) == [1, 2] and list(df["requests"]) == [24, 24]
    assert (df["requests_per_s"] > 0).all() and (df["p50_ms"] > 0).all()
    rates = df[[f"{o}_rate" for o in gateway_suite.OUTCOMES]].sum(axis=1)
    assert rates.round(9).eq(1).all()  # every request has exactly one outcome
    assert children("trustchain_lab") == []


def test_the_suite_says_why_it_skips_without_a_shareable_redis(monkeypatch, tmp_path):
    monkeypatch.setattr(gateway_suite, "redis_server_binary", lambda: None)
    ctx = Context(quick=True, backends=("redis",), out=tmp_path, redis_backend="fakeredis")
    out = gateway_suite.run(ctx)
    assert out.markdown.startswith("**Skipped**: it needs a real Redis") and out.data.empty


@pytest.mark.parametrize(
    ("status", "reason", "partials", "expected"),
    [
        (200, "claims_drained", 3, "complete"),
        (200, "probe_empty", 0, "probe_miss"),
        (200, "claims_drained", 2, "premature"),
        (503, "missed_broadcast", 0, "failed"),
        (503, None, 0, "unavailable"),
        (504, "deadline", 1, "timeout"),
        (0, None, 0, "error"),
    ],
)
def test_the_suite_reads_each_answer_as_one_outcome(status, reason, partials, expected):
    assert gateway_suite.outcome(status, reason, partials, workers=3) == expected
