"""An HTTP gateway to Trust Chain (aiohttp): ``python -m trustchain_lab.gateway --port 8080``.

``POST /tasks/{task}`` with a JSON object as its body dispatches the object as the
task's payload (one ``Dispatcher`` per process) and answers with the final response::

    {"task": ..., "request_id": ..., "reason": "claims_drained", "empty": false,
     "partials": [{"worker": ..., "ok": true, "interested": true, "result": ...,
                   "error": null}, ...],
     "missing": [], "latency_s": 0.012}

Status codes (every error body is ``{"error": "<one line>"}``):

- 200: an answer. ``reason`` says why collection stopped: ``claims_drained`` or
  ``all_replied`` with the partials, or ``probe_empty`` / ``no_receivers`` with
  ``"empty": true``: nobody was interested (an answer, not an error);
- 400: the body is not JSON, not a JSON object, or the task name is one the protocol
  refuses; 404: a task this gateway does not serve (``--task``), or another path;
  413: a body over the message size limit;
- 503: no trustworthy answer now, try again later: Redis is unavailable (the dispatcher
  is not listening, or Redis failed a step: ``chain.Unavailable``), or the answer said so
  itself (``lost_claims``, ``missed_broadcast``: the body is the final response);
- 504: the deadline fell first: the body is the final response with ``"reason":
  "deadline"`` and the partials that came in time.

``python -m trustchain_lab.gateway`` prints its URL once listening and stops cleanly on
SIGTERM/SIGINT (exit 0); bad options and an unreachable Redis are one-line errors
(exit 2). ``make_app(...)`` builds the application for embedding and tests, ``serve(...)``
runs it inside a running loop, and ``Deployment`` starts a gateway and worker processes
on this machine (for tests, benchmarks, trying it by hand).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

from aiohttp import web

from .chain import Dispatcher, FinalResponse, Keys, Reason, Unavailable, check_name
from .chain.messages import MAX_MESSAGE_BYTES
from .children import child_env
from .protocol import variant as protocol_variant
from .protocol import variant_names
from .worker import DEFAULT_REDIS_URL, name_arg, on_stop_signals, run_until_stopped

START_WAIT = 15.0  # seconds for the dispatcher to connect and subscribe
SHUTDOWN_WAIT = 5.0  # seconds requests in flight may take to finish after a stop signal
UNTRUSTED = (Reason.LOST_CLAIMS, Reason.MISSED_BROADCAST)  # answers that say so: 503
DISPATCHER = web.AppKey("dispatcher", Dispatcher)


def make_app(
    redis_url: str,
    *,
    tasks: Collection[str] | None = None,
    variant: str = "seed",
    probe_window: float | None = None,
    deadline: float | None = None,
    expect: int | None = None,
    keys: Keys | None = None,
) -> web.Application:
    """The gateway as an aiohttp application; its ``Dispatcher`` starts with the app and
    closes with it. ``tasks``: the task names served (None: any valid name). Timings left
    None are ``Dispatcher.dispatch``'s defaults; bad settings raise ``ValueError`` here."""
    timing = {"probe_window": probe_window, "deadline": deadline, "expect": expect}
    settings: dict[str, Any] = {k: v for k, v in timing.items() if v is not None}
    protocol_variant(variant)(**settings)  # validates the variant and its timing now
    settings["variant"] = variant
    served = None if tasks is None else frozenset(check_name(t) for t in tasks)

    async def dispatcher(app: web.Application) -> AsyncIterator[None]:
        d = Dispatcher(redis_url, keys=keys)
        try:
            async with asyncio.timeout(START_WAIT):
                await d.start()
            app[DISPATCHER] = d
            yield
        finally:
            await d.close()

    async def handle(request: web.Request) -> web.Response:
        task = request.match_info["task"]
        try:
            check_name(task)
        except ValueError as exc:
            return _error(400, str(exc))
        if served is not None and task not in served:
            return _error(404, f"task {task!r} is not served here (served: {sorted(served)})")
        try:
            payload = json.loads(await request.read())
        except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8; too deeply nested
            return _error(400, f"the body is not JSON: {_one_line(exc)}")
        if not isinstance(payload, dict):
            return _error(400, f"the body must be a JSON object, got {type(payload).__name__}")
        t0 = time.perf_counter()
        try:
            final = await request.app[DISPATCHER].dispatch(task, payload, **settings)
        except Unavailable as exc:
            return _error(503, _one_line(exc))
        except TypeError as exc:  # e.g. NaN: JSON as Python reads it, not as the chain sends it
            return _error(400, _one_line(exc))
        except ValueError as exc:  # over the message size limit
            return _error(413, _one_line(exc))
        return web.json_response(answer(final, time.perf_counter() - t0), status=status(final))

    app = web.Application(middlewares=[_json_errors], client_max_size=MAX_MESSAGE_BYTES)
    app.cleanup_ctx.append(dispatcher)
    app.router.add_post("/tasks/{task}", handle)
    return app


def status(final: FinalResponse) -> int:
    """The HTTP status of a final response (see the module's docstring)."""
    if final.reason == Reason.DEADLINE:
        return 504
    return 503 if final.reason in UNTRUSTED else 200


def answer(final: FinalResponse, latency: float) -> dict[str, Any]:
    """A final response as the JSON the gateway sends."""
    partials = [dataclasses.asdict(p) for p in final.partials]
    for p in partials:
        del p["request_id"]
    return {
        "task": final.task,
        "request_id": final.request_id,
        "reason": str(final.reason),
        "empty": final.empty,
        "partials": partials,
        "missing": list(final.missing),
        "latency_s": latency,
    }


def _error(code: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=code)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own errors (404, 405, 413 …) as ``{"error": …}`` too."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, _one_line(exc))


async def serve(
    app: web.Application,
    stop: asyncio.Event,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` (0: a free port) until ``stop`` is set; then let the
    requests in flight finish (up to ``SHUTDOWN_WAIT``) and clean up. ``ready(url)`` is
    called once listening."""
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_WAIT, access_log=None)
    await runner.setup()  # starts the dispatcher
    try:
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = runner.addresses[0][:2]
        if ":" in bound_host:
            bound_host = f"[{bound_host}]"
        if ready is not None:
            ready(f"http://{bound_host}:{bound_port}")
        await stop.wait()
    finally:
        await runner.cleanup()  # closes the dispatcher


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m trustchain_lab.gateway``."""
    p = argparse.ArgumentParser(
        prog="python -m trustchain_lab.gateway",
        description="Answer POST /tasks/{task} (a JSON object) with the Trust Chain final "
        "response as JSON.",
    )
    p.add_argument(
        "--task",
        action="append",
        type=name_arg,
        help="a task name to serve (repeat for more; default: any valid name)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    p.add_argument("--port", type=int, default=8080, help="port (0: a free one; default 8080)")
    p.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
        help=f"the Redis to use (default: REDIS_URL, else {DEFAULT_REDIS_URL})",
    )
    p.add_argument("--variant", choices=variant_names(), default="seed", help="the protocol")
    p.add_argument("--probe-window", type=float, help="seconds (default: dispatch's)")
    p.add_argument("--deadline", type=float, help="seconds per request (default: dispatch's)")
    p.add_argument("--expect", type=int, help="workers that answer (variants that need it)")
    p.add_argument("--keys-prefix", type=name_arg, default=Keys().prefix, help="key prefix")
    return p


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT; 0 after a clean stop, 2 on an error."""
    p = build_parser()
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        p.error(f"--port must be within 0..65535, got {args.port}")
    try:
        app = make_app(
            args.redis_url,
            tasks=args.task,
            variant=args.variant,
            probe_window=args.probe_window,
            deadline=args.deadline,
            expect=args.expect,
            keys=Keys(args.keys_prefix),
        )
    except ValueError as exc:
        p.error(str(exc))
    return run_until_stopped(args.redis_url, lambda: _run(app, args.host, args.port), "gateway")


async def _run(app: web.Application, host: str, port: int) -> None:
    stop = on_stop_signals()
    await serve(app, stop, host=host, port=port, ready=lambda url: print(url, flush=True))


READY_WAIT = 30.0  # seconds a child process may take to say it is ready
STOP_WAIT = 10.0  # seconds a child process may take to stop after SIGTERM, then SIGKILL


class Deployment:
    """A gateway and workers as child processes of this one (``python -m``), on this
    machine: ``async with Deployment(url, "Sum") as d: await d.start_gateway();
    await d.add_workers(4)``, then POST to ``d.url``. Every process is stopped on exit
    (SIGTERM, then SIGKILL after ``STOP_WAIT``), whatever happened."""

    def __init__(self, redis_url: str, task: str, *, keys_prefix: str | None = None) -> None:
        self.redis_url = redis_url
        self.task = check_name(task)
        self.keys_prefix = keys_prefix or Keys().prefix
        self.url: str | None = None
        self.processes: list[asyncio.subprocess.Process] = []
        self._logs = contextlib.ExitStack()  # each child's stderr, a temporary file
        self._env = child_env()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    async def start_gateway(self, *options: str) -> str:
        """Start the gateway (on a free loopback port unless ``options`` say otherwise);
        returns its URL."""
        args = ["--redis-url", self.redis_url, "--keys-prefix", self.keys_prefix]
        args += ["--task", self.task, "--port", "0", *options]
        self.url = await self._spawn("trustchain_lab.gateway", args)
        return self.url

    async def add_workers(self, n: int, *options: str) -> list[str]:
        """Start ``n`` more workers (with these worker ``options``); returns their names."""
        args = ["--redis-url", self.redis_url, "--keys-prefix", self.keys_prefix]
        args += ["--task", self.task, *options]
        lines = await asyncio.gather(
            *(self._spawn("trustchain_lab.worker", args) for _ in range(n)),
            return_exceptions=True,  # every start ends (bounded) before any failure is told
        )
        for line in lines:
            if isinstance(line, BaseException):
                raise line
        return [str(line).removeprefix("ready ") for line in lines]

    async def _spawn(self, module: str, args: list[str]) -> str:
        """Start ``python -m module args``; its first line on stdout once it says it is
        ready; ``RuntimeError`` with its last words if it does not."""
        log = self._logs.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 -- stop() closes it
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            env=self._env,
        )
        self.processes.append(proc)
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(READY_WAIT):
                line = (await proc.stdout.readline()).decode().strip()
        except TimeoutError:
            raise RuntimeError(f"{module} was not ready within {READY_WAIT:g} s") from None
        if not line:
            await proc.wait()
            log.seek(0)
            last = log.read().decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"{module} exited with {proc.returncode}: {last[0]}")
        return line

    async def stop(self) -> list[int | None]:
        """Stop every process (SIGTERM, then SIGKILL); their exit codes."""
        for proc in self.processes:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):  # exited, not yet reaped
                    proc.terminate()
        codes = await asyncio.gather(*(self._reap(p) for p in self.processes))
        self._logs.close()
        return codes

    @staticmethod
    async def _reap(proc: asyncio.subprocess.Process) -> int | None:
        try:
            async with asyncio.timeout(STOP_WAIT):
                return await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            return await proc.wait()

    async def __aenter__(self) -> Deployment:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


if __name__ == "__main__":
    sys.exit(main())
