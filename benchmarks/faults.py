"""Suite ``faults``: outages and hostile input, injected while requests flow.

Each fault runs on a private redis-server of its own (never the run's Redis: it is killed
and paused here), with three signed workers that are always interested and a steady load
of requests whose right answer is known (all three results). Every request ends as one of:
*correct*; an *explicit* failure (``Unavailable``, or reason ``deadline`` / ``lost_claims``
/ ``missed_broadcast``);
*wrong* (an answer that looks normal and is not); *hung* (no return within the deadline
plus a bound). Also: keys of ours left afterwards, and the time from the end of the fault to
the first correct answer dispatched after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pandas as pd

from trustchain_lab.chain import Dispatcher, Keys, Reason, Step, Unavailable, Worker
from trustchain_lab.chain.messages import PartialMessage, encode_partial
from trustchain_lab.redis_server import RedisServer, redis_server_binary

from .core import Context, SuiteOutput, markdown_table

TITLE = "Faults: Redis restarts and stalls, dead workers, hostile messages"
DESCRIPTION = "requests correct / explicit errors / wrong / hung under injected faults"
SECRET = "trustchain-lab faults suite secret"
WORKERS = ("w0", "w1", "w2")
DEADLINE, PROBE_WINDOW = 1.0, 0.3
HUNG_AFTER = 3.0  # seconds past the deadline after which a request counts as hung
IN_FLIGHT = 4
BEFORE, AFTER = 1.5, 3.0  # seconds of load before the fault and after it ended
PREFIX = "faults"


@dataclass
class Lab:
    """A private server, a signed gateway and workers, and what the fault may touch."""

    server: RedisServer
    gateway: Dispatcher = field(init=False)  # made once the lab exists: it observes it
    workers: list[Worker] = field(default_factory=list)
    crashed: set[str] = field(default_factory=set)  # workers that claim and never answer
    in_flight: set[str] = field(default_factory=set)  # request ids being answered
    keys: Keys = field(default_factory=lambda: Keys(PREFIX))

    def observe(self, step: Step) -> None:
        if step.actor == "gw" and step.kind == "dispatch":
            self.in_flight.add(step.request_id)
        elif step.actor == "gw" and step.kind == "final":
            self.in_flight.discard(step.request_id)


Fault = Callable[[Lab], Awaitable[None]]


def restart(down: float) -> Fault:
    async def fault(lab: Lab) -> None:
        lab.server.kill()
        await asyncio.sleep(down)
        lab.server.restart()

    return fault


def stall(seconds: float) -> Fault:
    async def fault(lab: Lab) -> None:
        lab.server.pause()
        try:
            await asyncio.sleep(seconds)
        finally:
            lab.server.resume()

    return fault


async def worker_dies_after_claiming(lab: Lab) -> None:
    lab.crashed.add("w2")
    await asyncio.sleep(2.0)
    lab.crashed.discard("w2")


async def hostile_messages(lab: Lab) -> None:
    """Forged and replayed partials, a replayed task, garbage, deep nesting, and one
    message past Redis' Pub/Sub output-buffer limit (it disconnects every subscriber)."""
    admin = lab.gateway.redis
    reply, task = lab.keys.reply_channel("gw"), lab.keys.task_channel("Job")
    spy = admin.pubsub()
    await spy.subscribe(task)
    captured = None
    for _ in range(100):  # bounded: a task comes within a few polls under load
        msg = await spy.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if msg is not None:
            captured = msg["data"]
            break
    await spy.aclose()
    end = time.monotonic() + 2.0
    sent_big = False
    while time.monotonic() < end:
        for rid in list(lab.in_flight):
            forged = encode_partial(PartialMessage(rid, "w0", ok=True, result="forged"))
            await admin.publish(reply, forged)
        if captured is not None:
            await admin.publish(task, captured)  # a replayed (validly signed) task
        await admin.publish(task, b"\x00garbage")
        await admin.publish(reply, b"[" * 50_000 + b"]" * 50_000)
        if not sent_big:
            await admin.publish(task, b"x" * (40 << 20))  # > 32 MB output-buffer limit
            sent_big = True
        await asyncio.sleep(0.05)


async def junk_claims(lab: Lab) -> None:
    """Anyone who can write our keys pushes junk claims onto live requests' lists (RPUSHX:
    onto lists that exist, so what is left afterwards is ours, not the attacker's)."""
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        for rid in list(lab.in_flight):
            await lab.gateway.redis.rpushx(lab.keys.claim_list("Job", rid), "junk")
        await asyncio.sleep(0.05)


QUICK_SKIPS = ("restart, down 1 s", "stall 6 s")  # the longest two, left out by --quick
FAULTS: dict[str, tuple[Fault, str]] = {
    "restart, down 0 s": (restart(0.0), "kill -9, then restart at once (data lost)"),
    "restart, down 1 s": (restart(1.0), "kill -9, restart after 1 s"),
    "stall 2 s": (stall(2.0), "SIGSTOP for 2 s, then SIGCONT"),
    "stall 6 s": (stall(6.0), "SIGSTOP for 6 s, then SIGCONT"),
    "worker dies after claiming": (worker_dies_after_claiming, "w2 claims, never answers"),
    "hostile messages": (hostile_messages, "forged/replayed/garbage/nested/40 MB messages"),
    "junk claims": (junk_claims, "junk pushed onto live claim lists"),
}


@dataclass
class Tally:
    sent: int = 0
    correct: int = 0
    explicit: int = 0
    wrong: int = 0
    hung: int = 0
    missing_named: int = 0
    first_correct_after: float | None = None
    wrong_examples: list[str] = field(default_factory=list)


async def one_request(lab: Lab, variant: str, tally: Tally, fault_end: list[float]) -> None:
    started = time.monotonic()
    tally.sent += 1
    try:
        final = await asyncio.wait_for(
            lab.gateway.dispatch(
                "Job", variant=variant, probe_window=PROBE_WINDOW, deadline=DEADLINE
            ),
            DEADLINE + HUNG_AFTER,
        )
    except TimeoutError:
        tally.hung += 1
        return
    except Unavailable:
        tally.explicit += 1
        await asyncio.sleep(0.01)  # it failed at once: don't spin
        return
    if final.reason in (Reason.DEADLINE, Reason.LOST_CLAIMS, Reason.MISSED_BROADCAST):
        tally.explicit += 1
        tally.missing_named += bool(final.missing)
    elif sorted(final.results) == list(WORKERS):
        tally.correct += 1
        if fault_end and started >= fault_end[0] and tally.first_correct_after is None:
            tally.first_correct_after = time.monotonic() - fault_end[0]
    else:
        tally.wrong += 1
        if len(tally.wrong_examples) < 3:
            tally.wrong_examples.append(f"{final.reason}: {sorted(map(str, final.results))}")


async def settle(lab: Lab) -> None:
    """Let the gateway's clean-ups still being retried finish (bounded)."""
    give_up = time.monotonic() + 20.0
    while lab.gateway.cleaning and time.monotonic() < give_up:
        await asyncio.sleep(0.1)


async def run_fault(name: str, variant: str = "seed") -> dict:
    """Run one fault under load on a private server; its tally as a row."""
    fault, how = FAULTS[name]
    with RedisServer() as server:
        lab = Lab(server)
        lab.gateway = Dispatcher(
            server.url, name="gw", keys=lab.keys, secret=SECRET, observer=lab.observe
        )
        for name_ in WORKERS:

            async def work(request, me=name_):
                if me in lab.crashed:
                    await asyncio.Event().wait()  # claimed, and never answers
                await asyncio.sleep(0.005)
                return me

            w = Worker(server.url, name=name_, keys=lab.keys, secret=SECRET)
            w.on("Job", work)
            lab.workers.append(w)
        endpoints = [lab.gateway, *lab.workers]
        for e in endpoints:
            await e.start()
        tally, fault_end = Tally(), []
        stop = asyncio.Event()

        async def load() -> None:
            while not stop.is_set():
                await one_request(lab, variant, tally, fault_end)

        loaders = [asyncio.create_task(load()) for _ in range(IN_FLIGHT)]
        try:
            await asyncio.sleep(BEFORE)
            await fault(lab)
            fault_end.append(time.monotonic())
            await asyncio.sleep(AFTER)
        finally:
            stop.set()
            await asyncio.wait(loaders, timeout=DEADLINE + HUNG_AFTER + 1)
            for t in loaders:
                t.cancel()
            lab.crashed.clear()
            for w in lab.workers:
                await w.drain(2.0)
            await settle(lab)
            left, forever = 0, 0
            with contextlib.suppress(Exception):
                r = lab.gateway.redis
                keys = [k async for k in r.scan_iter(match=lab.keys.pattern())]
                left = len(keys)
                forever = sum([await r.ttl(k) == -1 for k in keys])
            for e in endpoints:
                await e.close()
    return {
        "fault": name,
        "how": how,
        "variant": variant,
        "requests": tally.sent,
        "correct": tally.correct,
        "explicit_errors": tally.explicit,
        "wrong_answers": tally.wrong,
        "hung": tally.hung,
        "deadline_named_missing": tally.missing_named,
        "keys_left": left,  # seed: lists late claims recreated (with a TTL)
        "keys_without_ttl": forever,
        "recovery_s": tally.first_correct_after,
        "wrong_examples": json.dumps(tally.wrong_examples),
    }


def run(ctx: Context) -> SuiteOutput:
    why = None
    if "redis" not in ctx.backends:
        why = "it runs on real Redis only (--backend sim was given)"
    elif redis_server_binary() is None:
        why = "it needs redis-server on PATH to kill and restart (apt-get install redis-server)"
    if why is not None:
        md = f"**Skipped**: {why}.\n"
        return SuiteOutput("faults", TITLE, pd.DataFrame(), md, [], {})
    names = [n for n in FAULTS if not (ctx.quick and n in QUICK_SKIPS)]
    chain_log = logging.getLogger("trustchain_lab.chain")  # the faults are on purpose:
    level = chain_log.level  # the endpoints' warnings about them would flood the console
    chain_log.setLevel(logging.ERROR)  # (the suite counts them in its table instead)
    try:
        rows = [asyncio.run(run_fault(n, ctx.variant)) for n in ctx.bar(names, "faults")]
    finally:
        chain_log.setLevel(level)
    df = pd.DataFrame(rows)
    table = df.drop(columns=["how", "wrong_examples", "variant"])
    headline = {
        "wrong_answers_total": int(df["wrong_answers"].sum()),
        "hung_total": int(df["hung"].sum()),
        "keys_without_ttl_total": int(df["keys_without_ttl"].sum()),
        "recovery_s_max": float(df["recovery_s"].max()),
    }
    faults = "\n".join(f"- **{n}**: {how}" for n, (_, how) in FAULTS.items() if n in names)
    md = (
        f"Variant `{ctx.variant}`, 3 signed workers (always interested), {IN_FLIGHT} requests "
        f"in flight, deadline {DEADLINE} s, probe window {PROBE_WINDOW} s; {BEFORE} s of load, "
        f"the fault, {AFTER} s more. *Explicit* = `Unavailable` or reason `deadline` / "
        f"`lost_claims` / `missed_broadcast`; *wrong* = a normal-looking answer without all "
        f"three results; *hung* = "
        f"no return within the deadline + {HUNG_AFTER} s; *recovery* = from the fault's end "
        f"to the first correct answer dispatched after it; *keys left* are counted once the "
        f"load stopped (in `seed`, claims that land after a request closed recreate its list, "
        f"with a TTL; `sealed` refuses them). Each fault on its own private "
        f"redis-server.\n\n{faults}\n\n{markdown_table(table, '.3g')}\n\n"
        "A message over Redis' Pub/Sub output-buffer limit (32 MB by default) makes Redis "
        "disconnect every subscriber of its channel: workers re-subscribe within about 0.1 s, "
        "but a task published meanwhile is never seen, and `seed` cannot tell deaf workers "
        "from uninterested ones (its probe answers empty). Pub/Sub keeps no history; the "
        "remedy is Redis ACLs that let only the lab's roles publish on its channels.\n"
    )
    if df["wrong_answers"].sum():
        md += (
            "\nWrong answers seen: "
            + "; ".join(
                f"{r.fault}: {r.wrong_examples}" for r in df.itertuples() if r.wrong_answers
            )
            + "\n"
        )
    return SuiteOutput("faults", TITLE, df, md, [], headline)
