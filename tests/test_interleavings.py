"""Every interleaving, explored with the core alone: each variant's guarantee holds in all.

Two workers. A claim-list command takes time: the core issues it, the server applies it
(changing ``MemoryClaims``), its answer comes back; claims, replies and every timer
(the deadline too) can fall anywhere in between. A worker claims (or not) after the
broadcast, works, then replies; an uninterested one declines where its variant says so.
The outcome of each path is judged by a small oracle written from DESIGN.md's table.
"""

import copy
from dataclasses import dataclass, field

import pytest

from trustchain_lab.protocol import (
    Action,
    Close,
    Final,
    MemoryClaims,
    Pop,
    ReadLength,
    Reason,
    SetTimer,
    variant,
)

KEY = "request"


@dataclass
class World:
    collector: object
    interested: dict
    claims: MemoryClaims = field(default_factory=MemoryClaims)
    stage: dict = field(default_factory=dict)  # worker -> start / working / answering / done
    worked: set = field(default_factory=set)
    refused: set = field(default_factory=set)
    timers: list = field(default_factory=list)  # (timer, token), each fires once, any time
    in_flight: list | None = None  # [command, answer once the server applied it]
    reasons: list = field(default_factory=list)
    published: bool = False

    def run(self, commands) -> None:
        for cmd in commands:
            if isinstance(cmd, SetTimer):
                self.timers.append((cmd.timer, cmd.token))
            elif isinstance(cmd, Pop | ReadLength):
                assert self.in_flight is None, "two claim-list commands in flight"
                self.in_flight = [cmd, None]
            elif isinstance(cmd, Close):
                self.claims.close(KEY)
            elif isinstance(cmd, Final):
                self.reasons.append(cmd.reason)

    def events(self) -> list:
        if not self.published:
            return [("publish", None)]
        out = [(stage, w) for w, stage in self.stage.items() if stage != "done"]
        out += [("timer", k) for k in range(len(self.timers))]
        if self.in_flight is not None:
            out.append(("apply" if self.in_flight[1] is None else "answer", None))
        return out

    def step(self, what: str, arg) -> None:
        c = self.collector
        if what == "publish":
            self.published = True
            if c.claims:
                self.claims.open(KEY)  # in the same step as PUBLISH
            self.stage = dict.fromkeys(self.interested, "start")
            self.run(c.published(len(self.interested)))
        elif what == "start":  # the worker decides
            action = c.on_interest(self.interested[arg])
            if action is Action.CLAIM and not self.claims.claim(KEY, arg, c.seals):
                self.refused.add(arg)
                self.stage[arg] = "done"
            elif action in (Action.CLAIM, Action.WORK):
                self.worked.add(arg)
                self.stage[arg] = "working"
            else:
                self.stage[arg] = "answering" if action is Action.DECLINE else "done"
        elif what in ("working", "answering"):  # the reply (or decline) arrives
            self.stage[arg] = "done"
            self.run(c.partial(arg, (arg, what == "working")))
        elif what == "timer":
            timer, token = self.timers.pop(arg)
            self.run(c.timer(timer, token))
        elif what == "apply":
            cmd = self.in_flight[0]
            if isinstance(cmd, Pop):
                self.in_flight[1] = self.claims.pop(KEY, cmd.worker, cmd.seal)
            else:
                self.in_flight[1] = self.claims.length(KEY, cmd.seal)
        else:  # the answer of the command in flight
            n, self.in_flight = self.in_flight[1], None
            self.run(c.counted(n))

    def outcome(self) -> str:
        """DESIGN.md's outcome table, judged from this path's ground truth."""
        (reason,) = self.reasons  # exactly one answer
        if reason is Reason.DEADLINE:
            return "timeout"
        if reason is Reason.LOST_CLAIMS:
            return "failed"
        wanted = {w for w, yes in self.interested.items() if yes}
        included = {w for w, real in self.collector.accepted if real}
        missing = wanted - included
        if not missing:
            return "complete" if wanted else "empty"
        if missing <= self.refused:
            return "excluded"
        return "probe_miss" if reason is Reason.PROBE_EMPTY else "premature"


def explore(name: str, interested: dict, **timing) -> set[str]:
    """The outcomes of every path; checks on the way that no path hangs or answers twice,
    and that a sealed request wasted no work unless it timed out."""
    kind = variant(name)
    expect = len(interested) if kind.needs_expect else None
    c = kind(probe_window=0.5, deadline=5.0, expect=expect, **timing)
    stack, outcomes, paths = [World(c, interested)], set(), 0
    while stack:
        world = stack.pop()
        events = world.events()
        if not events:
            paths += 1
            outcome = world.outcome()
            outcomes.add(outcome)
            if kind.seals and outcome != "timeout":
                included = {w for w, real in world.collector.accepted if real}
                assert world.worked <= included, "sealed wasted a worker's work"
            continue
        for event in events:
            branch = copy.deepcopy(world)
            branch.step(*event)
            stack.append(branch)
    assert paths > 20  # the orders of the steps (claim-list windows multiply them)
    return outcomes


BOTH = {"a": True, "b": True}
ONE = {"a": True, "b": False}


@pytest.mark.parametrize(
    ("name", "interested", "timing", "possible"),
    [
        ("seed", BOTH, {}, {"complete", "premature", "probe_miss", "timeout"}),
        ("seed", ONE, {}, {"complete", "probe_miss", "timeout"}),
        ("seed", BOTH, {"grace": 0.01}, {"complete", "premature", "probe_miss", "timeout"}),
        ("sealed", BOTH, {}, {"complete", "excluded", "timeout"}),
        ("sealed", ONE, {"grace": 0.01}, {"complete", "excluded", "timeout"}),
        ("known", ONE, {}, {"complete", "timeout"}),
        ("ack", BOTH, {}, {"complete", "timeout"}),
        ("ack", {"a": False, "b": False}, {}, {"empty", "timeout"}),
    ],
)
def test_each_variant_gives_only_the_outcomes_it_promises(name, interested, timing, possible):
    assert explore(name, interested, **timing) == possible
