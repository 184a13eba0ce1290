"""The dispatcher side of one request, as a state machine with no I/O and no clock.

Inputs: ``published(receivers, usual)`` once the broadcast returned, ``partial(worker, item)``
for every reply, ``counted(n)`` for the answer of the claim-list command in flight (-1:
the claim list is gone), ``abandon()`` when that answer will not come before the deadline,
``timer(timer, token)`` when a timer set by a ``SetTimer`` fires. Each returns the
commands (``protocol.commands``) to carry out, in order. At most one claim-list command
is in flight at a time: replies that come meanwhile wait in the machine, and a timer
that fires meanwhile is acted on when the answer is back (replies first).

A variant is a subclass that sets the class attributes below and overrides the hooks:
``_on_published`` (what to start once the broadcast is out) and ``_on_accepted`` (what a
reply taken into the answer leads to), and if it needs to, ``_before_answer`` /
``_on_final`` (clean-up around the answer). ``ClaimCollector`` and ``CountCollector`` are
the two families: claims on a shared list, or a count of expected replies.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, ClassVar

from .commands import Command, Final, Note, Pop, ReadLength, SetTimer
from .vocab import Action, Kind, Reason, Timer

# The hot path runs once per reply in the model: enum members and immutable commands are
# bound once here (a class attribute lookup costs ~10x a global one), notes are built
# without NamedTuple's Python-level __new__.
_POP, _PROBE, _RECHECK, _RECEIVED = Kind.POP, Kind.PROBE, Kind.RECHECK, Kind.PARTIAL_RECEIVED
_LATE, _DUPLICATE = Kind.PARTIAL_LATE, Kind.PARTIAL_DUPLICATE
_tuple = tuple.__new__
MAX_DEADLINE = 24 * 3600  # seconds: the longest deadline a request may have


def _seconds(name: str, value: float, *, zero_ok: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero_ok):
        bound = ">= 0" if zero_ok else "> 0"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, got {value!r}")
    return float(value)


class Collector:
    """One request at its dispatcher; subclasses are the protocol's variants."""

    name: ClassVar[str] = ""
    guarantee: ClassVar[str] = ""  # one line: what the variant promises
    rank: ClassVar[int] = 100  # position in ``variants()``
    claims: ClassVar[bool] = False  # interested workers push a claim before working
    seals: ClassVar[bool] = False  # claims onto a finished request are refused
    declines: ClassVar[bool] = False  # uninterested receivers answer with a decline
    takes_grace: ClassVar[bool] = False  # the ``grace`` parameter applies
    needs_expect: ClassVar[bool] = False  # the dispatcher must say how many will answer

    __slots__ = (
        "_armed",
        "_deadline_due",
        "_grace_token",
        "_in_grace",
        "_probe_due",
        "_queue",
        "_replied",
        "_short",
        "_started",
        "accepted",
        "busy",
        "deadline",
        "done",
        "expect",
        "grace",
        "probe_window",
        "reason",
    )

    def __init__(
        self,
        *,
        probe_window: float = 0.5,
        deadline: float = 30.0,
        grace: float = 0.0,
        expect: int | None = None,
    ) -> None:
        self.probe_window = _seconds("probe_window", probe_window)
        self.deadline = _seconds("deadline", deadline)
        if self.deadline > MAX_DEADLINE:
            raise ValueError(f"deadline must be at most {MAX_DEADLINE} seconds, got {deadline!r}")
        self.grace = _seconds("grace", grace, zero_ok=True)
        if self.claims and self.probe_window >= self.deadline:
            raise ValueError(
                f"probe_window ({probe_window!r} s) must be below deadline ({deadline!r} s): "
                "else every request nobody claims times out"
            )
        if self.grace and not self.takes_grace:
            raise ValueError(f"grace does not apply to variant {self.name!r}")
        if self.needs_expect:
            if isinstance(expect, bool) or not isinstance(expect, int) or expect < 1:
                raise ValueError(f"variant {self.name!r} needs expect >= 1, got {expect!r}")
        elif expect is not None:
            raise ValueError(f"variant {self.name!r} takes no expect (the count comes otherwise)")
        self.expect = expect
        self.accepted: list[Any] = []  # items of the replies taken into the answer
        self.busy: Kind | None = None  # the claim-list command in flight, if any
        self.done = False
        self.reason: Reason | None = None
        self._queue: deque[tuple[Any, Any]] = deque()
        self._replied: set[Any] = set()
        self._started = self._in_grace = self._short = False
        self._probe_due = self._deadline_due = False
        self._grace_token = 0
        self._armed: set[Timer] = set()  # timers set and not fired yet: others are ignored

    # --- worker side ----------------------------------------------------------------------
    @classmethod
    def on_interest(cls, interested: bool) -> Action:
        """What a worker that received this variant's task does."""
        if interested:
            return Action.CLAIM if cls.claims else Action.WORK
        return Action.DECLINE if cls.declines else Action.NOTHING

    # --- inputs ---------------------------------------------------------------------------
    def published(self, receivers: int, usual: int | None = None) -> list[Command]:
        """The broadcast returned; ``receivers`` is what the bus says it reached, ``usual``
        how many listeners the executor saw reached lately (if it keeps count). Fewer than
        usual: a listener may have missed this task, so the answer will say
        ``missed_broadcast`` instead of pretending to be whole (a deadline stays one)."""
        out: list[Command] = []
        self._started = True
        self._short = usual is not None and receivers < usual
        self._on_published(receivers, out)
        if not self.done:
            out.append(self._arm(Timer.DEADLINE, self.deadline))
            self._resume(out)
        return out

    def partial(self, worker: Any, item: Any = None) -> list[Command]:
        """A reply of ``worker`` arrived (``item`` is kept in ``accepted`` if taken)."""
        if self.done:
            return [_tuple(Note, (_LATE, None, worker))]
        if worker in self._replied:
            return [_tuple(Note, (_DUPLICATE, None, worker))]
        self._replied.add(worker)
        self._queue.append((worker, item))
        out: list[Command] = []
        if self._started and self.busy is None:  # nothing in flight: take replies now
            self._take(out)
        return out

    def counted(self, n: int) -> list[Command]:
        """The claim-list command in flight answered ``n``: the claims left or read, or -1
        when the list did not hold what it must (it vanished: no answer can be trusted)."""
        kind, self.busy = self.busy, None
        if kind is None:
            raise RuntimeError("counted() with no claim-list command in flight")
        out: list[Command] = [_tuple(Note, (kind, n, None))]
        if n < 0:
            self._final(Reason.LOST_CLAIMS, out)
            return out
        if n == 0:
            if kind is _POP and self.grace:
                self._in_grace = True
                self._grace_token += 1
                out.append(self._arm(Timer.GRACE, self.grace, self._grace_token))
            elif kind is _RECHECK and self._queue:  # a reply came during the recheck: its
                self._in_grace = False  # claim is newer than the read; take it first
            else:
                empty = kind is _PROBE
                self._final(Reason.PROBE_EMPTY if empty else Reason.CLAIMS_DRAINED, out)
                return out
        elif kind is _RECHECK:
            self._in_grace = False  # a late claimer showed up: wait for its reply
        self._resume(out)
        return out

    def abandon(self) -> list[Command]:
        """The claim-list command in flight will not be answered before the deadline (the
        executor gave up on it): answer now with what is in, reason ``deadline``."""
        if self.busy is None or self.done:
            raise RuntimeError("abandon() with no claim-list command in flight")
        self.busy = None
        out: list[Command] = []
        self._final(Reason.DEADLINE, out)
        return out

    def timer(self, timer: Timer, token: int = 0) -> list[Command]:
        """A timer fired (stale ones, e.g. an earlier grace period's, are ignored; each
        fires once)."""
        out: list[Command] = []
        if self.done or timer not in self._armed:
            return out
        if timer is not Timer.GRACE or token == self._grace_token:
            self._armed.discard(timer)
        idle = self.busy is None and not self._queue
        if timer is Timer.DEADLINE:
            if idle:
                self._final(Reason.DEADLINE, out)
            else:
                self._deadline_due = True
        elif timer is Timer.PROBE and not self._in_grace:  # it fires once; in a grace period
            if idle:  # it is skipped: the grace recheck will read the list anyway
                self._read(Kind.PROBE, out)
            else:
                self._probe_due = True
        elif timer is Timer.GRACE and token == self._grace_token and self._in_grace:
            self._read(Kind.RECHECK, out)  # in a grace period nothing is ever in flight
        return out

    # --- hooks of the variants ------------------------------------------------------------
    def _on_published(self, receivers: int, out: list[Command]) -> None:
        raise NotImplementedError

    def _on_accepted(self, worker: Any, out: list[Command]) -> None:
        raise NotImplementedError

    def _before_answer(self, reason: Reason, out: list[Command]) -> None:
        """Commands that must be carried out before the answer; nothing by default."""

    def _on_final(self, reason: Reason, out: list[Command]) -> None:
        """Clean-up after the answer (e.g. delete the claim list); nothing by default."""

    # --- the machinery --------------------------------------------------------------------
    def _take(self, out: list[Command]) -> None:
        """Take queued replies into the answer, in order, while nothing is in flight."""
        queue = self._queue
        while queue and self.busy is None and not self.done:
            worker, item = queue.popleft()
            self._in_grace = False
            self.accepted.append(item)
            out.append(_tuple(Note, (_RECEIVED, None, worker)))
            self._on_accepted(worker, out)

    def _resume(self, out: list[Command]) -> None:
        """When idle: replies first, then a timer that came due meanwhile."""
        if self._queue:
            self._take(out)
        if self.busy is not None or self.done:
            return
        if self._deadline_due:
            self._final(Reason.DEADLINE, out)
        elif self._probe_due and self._in_grace:  # the grace recheck will read the list
            self._probe_due = False
        elif self._probe_due:
            self._read(Kind.PROBE, out)

    def _arm(self, timer: Timer, after: float, token: int = 0) -> SetTimer:
        self._armed.add(timer)
        return SetTimer(timer, after, token)

    def _read(self, why: Kind, out: list[Command]) -> None:
        if why is Kind.PROBE:
            self._probe_due = False
        self.busy = why
        out.append(ReadLength(why, self.seals))

    def _final(self, reason: Reason, out: list[Command]) -> None:
        if self._short and reason not in (Reason.DEADLINE, Reason.LOST_CLAIMS):
            reason = Reason.MISSED_BROADCAST
        self.done, self.reason = True, reason
        self._before_answer(reason, out)
        out.append(Final(reason))
        while self._queue:
            out.append(_tuple(Note, (_LATE, None, self._queue.popleft()[0])))
        self._on_final(reason, out)


class ClaimCollector(Collector):
    """Workers claim on the list ``{Task}-{RequestID}``; one pop per reply; a probe."""

    claims = True
    takes_grace = True
    __slots__ = ()

    def _on_published(self, receivers: int, out: list[Command]) -> None:
        out.append(self._arm(Timer.PROBE, self.probe_window))

    def _on_accepted(self, worker: Any, out: list[Command]) -> None:  # one pop per reply
        self.busy = _POP
        out.append(_tuple(Pop, (worker, self.seals and not self.grace)))  # with grace, the
        # recheck seals


class CountCollector(Collector):
    """Every receiver answers (a partial or a decline); final when the count is in."""

    declines = True
    __slots__ = ("expected",)

    def _on_published(self, receivers: int, out: list[Command]) -> None:
        self.expected = self._expected(receivers)
        if self.expected == 0:
            self._final(Reason.NO_RECEIVERS, out)

    def _expected(self, receivers: int) -> int:
        raise NotImplementedError

    def _on_accepted(self, worker: Any, out: list[Command]) -> None:
        if len(self.accepted) >= self.expected:
            self._final(Reason.ALL_REPLIED, out)
