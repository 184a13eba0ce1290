"""Every interleaving of two workers' claims and replies and the probe, explored with the
core alone: each variant's guarantee holds in all of them, not just in the sampled ones.

Claim-list commands act on ``MemoryClaims`` the moment the core issues them; every other
step (a claim landing, a reply arriving, a timer firing) is an event the explorer orders
in every possible way. A worker claims before it works and replies after.
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
    Timer,
    variant,
)

WORKERS = ("a", "b")
KEY = "request"


@dataclass
class World:
    collector: object
    claims: MemoryClaims = field(default_factory=MemoryClaims)
    stage: dict = field(default_factory=lambda: dict.fromkeys(WORKERS, "start"))
    timers: dict = field(default_factory=dict)  # armed timer -> token
    reason: Reason | None = None

    def run(self, commands) -> None:
        c = self.collector
        pending = list(commands)
        while pending:
            cmd = pending.pop(0)
            if isinstance(cmd, SetTimer):
                self.timers[cmd.timer] = cmd.token
            elif isinstance(cmd, Pop):
                pending += c.counted(self.claims.pop(KEY, cmd.worker, cmd.seal))
            elif isinstance(cmd, ReadLength):
                pending += c.counted(self.claims.length(KEY, cmd.seal))
            elif isinstance(cmd, Close):
                self.claims.close(KEY)
            elif isinstance(cmd, Final):
                self.reason = cmd.reason

    def events(self) -> list[tuple[str, str]]:
        out = []
        for w, stage in self.stage.items():
            if stage in ("start", "working"):
                out.append((stage, w))
        out += [("timer", t) for t in self.timers if t is not Timer.DEADLINE]
        return out

    def step(self, event: tuple[str, str]) -> None:
        what, who = event
        c = self.collector
        if what == "start":  # interested: claim (claim variants) or work at once
            if c.on_interest(True) is Action.CLAIM:
                accepted = self.claims.claim(KEY, who, c.seals)
                self.stage[who] = "working" if accepted else "refused"
            else:
                self.stage[who] = "working"
        elif what == "working":  # the reply arrives
            self.stage[who] = "replied"
            self.run(c.partial(who, who))  # the reply carries its worker
        else:
            token = self.timers.pop(who)
            self.run(c.timer(who, token))

    def outcome(self) -> str:
        included = set(self.collector.accepted)
        missing = set(WORKERS) - included
        refused = {w for w, s in self.stage.items() if s == "refused"}
        if not missing:
            return "complete"
        if missing <= refused:
            return "excluded"
        return "probe_miss" if self.reason is Reason.PROBE_EMPTY else "premature"


def explore(name: str, **timing) -> set[str]:
    """Outcomes over every interleaving (each answered request counted once per path)."""
    world = World(variant(name)(probe_window=0.5, deadline=5.0, **timing))
    world.claims.open(KEY)  # the broadcast opens the request
    world.run(world.collector.published(len(WORKERS)))
    outcomes: set[str] = set()
    stack = [world]
    paths = 0
    while stack:
        w = stack.pop()
        events = w.events()
        if not events:
            assert w.reason is not None, "a request that can no longer end"
            outcomes.add(w.outcome())
            paths += 1
            continue
        for event in events:
            branch = copy.deepcopy(w)
            branch.step(event)
            stack.append(branch)
    assert paths >= 6  # at least the orders of two workers' two steps each
    return outcomes


@pytest.mark.parametrize(
    ("name", "timing", "possible"),
    [
        ("seed", {}, {"complete", "premature", "probe_miss"}),
        ("seed", {"grace": 0.01}, {"complete", "premature", "probe_miss"}),
        ("sealed", {}, {"complete", "excluded"}),
        ("sealed", {"grace": 0.01}, {"complete", "excluded"}),
        ("ack", {}, {"complete"}),
    ],
)
def test_each_variant_gives_only_the_outcomes_it_promises(name, timing, possible):
    assert explore(name, **timing) == possible
