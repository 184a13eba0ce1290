"""Workers in their own OS processes: placement ``"processes"`` (and ``"hosts"``).

``python -m trustchain_lab.worker_host`` runs some workers of a scenario (``LabWorkers``)
in its own event loop and talks to its parent in JSON lines: the parent writes the spec
(scenario, Redis URL, key prefix, worker names); the host answers ``{"ready": true}`` once
subscribed; the parent writes ``drain``; the host releases crashed workers, lets
stragglers finish, closes, answers its step log (stamped with the system-wide monotonic
clock, so the parent merges every log into one trace) and exits. It exits as well when its
standard input closes (the parent is gone). ``ProcessWorkers`` is the parent's side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from . import timers
from .children import child_env

READY_TIMEOUT = 60.0  # seconds for a host to start and subscribe (processes start in parallel)
RESULT_SLACK = 30.0  # seconds beyond the straggler budget for a host to send its log
STOP_TIMEOUT = 5.0  # seconds for a host to exit before it is killed
LINE_LIMIT = 1 << 30  # bytes of one JSON line (a host's whole step log)


class WorkerHostError(RuntimeError):
    """A worker process failed to start, answer or finish."""


class ProcessWorkers:
    """Some workers of a scenario per OS process, seen from the run: ``groups`` lists the
    worker names of each process; ``launcher(k)`` is the command prefix of process ``k``
    (e.g. ``["ip", "netns", "exec", ns]``; empty for a plain child process)."""

    def __init__(
        self,
        scenario: Any,
        prefix: str,
        redis_url: str,
        groups: Sequence[Sequence[str]],
        launcher=lambda k: [],
    ) -> None:
        self.spec = {"scenario": scenario.to_dict(), "prefix": prefix, "redis_url": redis_url}
        self.groups = [list(g) for g in groups]
        self.launcher = launcher
        self.procs: list[asyncio.subprocess.Process] = []
        self.errs: list[Any] = []
        self.totals = {"malformed": 0, "late": 0, "cpu_seconds": 0.0}

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    async def start(self) -> None:
        """Start every process and wait until all have subscribed."""
        env = child_env()
        for k, names in enumerate(self.groups):
            err = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
            self.errs.append(err)
            proc = await asyncio.create_subprocess_exec(
                *self.launcher(k),
                sys.executable,
                "-m",
                "trustchain_lab.worker_host",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=env,
                limit=LINE_LIMIT,
                start_new_session=True,  # Ctrl-C reaches the run, which stops its hosts
            )
            self.procs.append(proc)
            spec = {**self.spec, "names": names}
            proc.stdin.write(json.dumps(spec).encode() + b"\n")
        await _all(self._expect(k, "ready", READY_TIMEOUT) for k in range(len(self.procs)))

    async def _expect(self, k: int, key: str, timeout: float) -> dict[str, Any]:
        proc = self.procs[k]
        who = f"worker process {k} ({', '.join(self.groups[k])})"
        try:
            async with asyncio.timeout(timeout):
                await proc.stdin.drain()
                line = await proc.stdout.readline()
            answer = json.loads(line) if line.strip() else {}
        except TimeoutError:
            raise WorkerHostError(f"{who} did not answer '{key}' within {timeout:.0f} s") from None
        except (OSError, ValueError) as exc:  # it died, or said something that is not ours
            why = self._last_error(k) or f"{type(exc).__name__}: {exc}"
            raise WorkerHostError(f"{who}: {why}") from None
        if not isinstance(answer, dict) or key not in answer:
            said = answer.get("error") if isinstance(answer, dict) else None
            why = said or self._last_error(k) or "exited"
            raise WorkerHostError(f"worker process {k} ({', '.join(self.groups[k])}): {why}")
        return answer

    def _last_error(self, k: int) -> str:
        err = self.errs[k]
        err.seek(0)
        lines = [x for x in err.read().decode(errors="replace").splitlines() if x.strip()]
        return lines[-1] if lines else ""

    async def drain(self, budget: float) -> list[dict[str, list[Any]]]:
        """Release crashed workers, let stragglers finish, close; every host's step log."""
        for proc in self.procs:
            proc.stdin.write(b"drain\n")
        answers = await _all(
            self._expect(k, "steps", budget + RESULT_SLACK) for k in range(len(self.procs))
        )
        for a in answers:
            for key in self.totals:
                self.totals[key] += a[key]
        return [a["steps"] for a in answers]

    def counters(self) -> dict[str, float]:
        """Malformed messages, late partials, and the CPU seconds the hosts used."""
        return dict(self.totals)

    async def close(self) -> None:
        """Stop every host still running (SIGTERM, then SIGKILL after a bounded wait)."""
        for proc in self.procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.stdin.close()
                    proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for err in self.errs:
            err.close()


async def _all(coros) -> list[Any]:
    """Await every coroutine; the first failure cancels the rest and is raised as it is."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _serve() -> int:
    from .chain import Keys, redis_client
    from .lab_workers import LabWorkers, straggler_budget
    from .scenario import Scenario
    from .steps import StepLog

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def answer(**fields: Any) -> None:
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()

    line = await reader.readline()
    if not line:
        return 1
    spec = json.loads(line)
    scenario = Scenario.from_dict(spec["scenario"])
    log = StepLog()
    workers = LabWorkers(
        scenario,
        Keys(prefix=spec["prefix"]),
        lambda: redis_client(spec["redis_url"]),
        log,
        names=spec["names"],
    )
    try:
        await workers.start()
        answer(ready=True)
        cpu = time.process_time()
        command = await reader.readline()
        if command.strip() != b"drain":
            return 1  # the parent is gone: stop without a word
        await workers.drain(straggler_budget(scenario, workers.topology, workers.draws))
        counters = workers.counters()
    finally:
        await workers.close()
    answer(steps=log.as_dict(), cpu_seconds=time.process_time() - cpu, **counters)
    return 0


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return timers.run(_serve())  # timers on time, as in run_redis's own loop
    except Exception as exc:  # one line for the parent, which names this process
        sys.stdout.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
        sys.stdout.flush()
        return 2


if __name__ == "__main__":
    sys.exit(main())
