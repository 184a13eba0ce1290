"""What a run does: the task, its workers, their behaviour, and the load. Validated on construction.

``Scenario.slots()`` flattens the workers of the task and of every nested subtask into
numbered slots; ``Scenario.draws()`` gives every (request, slot) its random draws from
common-random-number streams, so a real and a simulated run of one scenario face the
same draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from .dists import Const, Dist, as_dist, dist_from_dict, stream
from .protocol import variant as protocol_variant
from .protocol.names import check_name

_INTEREST, _CLAIM, _WORK, _CRASH = range(4)  # stream numbers of the four draws


def _probability(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _workers(value: int | tuple[WorkerSpec, ...] | list[WorkerSpec], where: str):
    if isinstance(value, bool) or not isinstance(value, int | tuple | list):
        raise ValueError(f"{where} workers must be an int or a list of WorkerSpec, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"{where} needs at least one worker, got {value}")
        return value
    specs = tuple(value)
    if not specs:
        raise ValueError(f"{where} needs at least one worker, got an empty list")
    for s in specs:
        if not isinstance(s, WorkerSpec):
            raise ValueError(f"{where} workers must be WorkerSpec, got {s!r}")
    names = [s.name for s in specs if s.name is not None]
    if len(names) != len(set(names)):
        raise ValueError(f"{where} worker names must be unique, got {names}")
    return specs


@dataclass(frozen=True)
class SubTask:
    """A nested fan-out: the worker dispatches ``task`` to ``workers`` and waits for it."""

    task: str
    workers: int | tuple[WorkerSpec, ...] = 1

    def __post_init__(self) -> None:
        check_name(self.task, "subtask name")
        object.__setattr__(self, "workers", _workers(self.workers, f"subtask {self.task!r}"))


@dataclass(frozen=True)
class WorkerSpec:
    """Per-worker overrides; ``None`` inherits the scenario's value."""

    name: str | None = None
    interest: float | None = None
    claim_delay: Dist | float | None = None
    work_time: Dist | float | None = None
    crash: float | None = None
    subtask: SubTask | None = None

    def __post_init__(self) -> None:
        if self.name is not None:
            check_name(self.name, "worker name")
        for p in ("interest", "crash"):
            if getattr(self, p) is not None:
                object.__setattr__(self, p, _probability(f"WorkerSpec.{p}", getattr(self, p)))
        for d in ("claim_delay", "work_time"):
            if getattr(self, d) is not None:
                object.__setattr__(self, d, as_dist(getattr(self, d), f"WorkerSpec.{d}"))
        if self.subtask is not None and not isinstance(self.subtask, SubTask):
            raise ValueError(f"WorkerSpec.subtask must be a SubTask, got {self.subtask!r}")


@dataclass(frozen=True)
class Slot:
    """One worker on one task, with everything resolved: column ``index`` of the draws."""

    index: int
    task: str
    name: str
    interest: float
    claim_delay: Dist
    work_time: Dist
    crash: float
    subtask: str | None  # the task name this worker dispatches, if any
    depth: int


@dataclass(frozen=True)
class Draws:
    """Per (request, slot) draws; rows are requests, columns are ``Scenario.slots()``."""

    interested: np.ndarray  # bool
    claim_delay: np.ndarray  # seconds
    work_time: np.ndarray  # seconds
    crashed: np.ndarray  # bool: interested, claims, then dies before answering


@dataclass(frozen=True)
class Scenario:
    """One experiment, run the same way by every backend."""

    task: str = "Foo"
    workers: int | tuple[WorkerSpec, ...] = 4
    interest: float = 1.0
    claim_delay: Dist | float = field(default_factory=Const)
    work_time: Dist | float = field(default_factory=Const)
    crash: float = 0.0
    probe_window: float = 0.5
    deadline: float = 5.0
    requests: int = 100
    concurrency: int = 1
    variant: str = "seed"  # a name from trustchain_lab.variants()
    grace: float = 0.0  # seconds to wait and look again after the claim list empties
    seed: int = 0

    def __post_init__(self) -> None:
        check_name(self.task)
        object.__setattr__(self, "workers", _workers(self.workers, f"task {self.task!r}"))
        _probability("interest", self.interest)
        _probability("crash", self.crash)
        object.__setattr__(self, "interest", float(self.interest))
        object.__setattr__(self, "crash", float(self.crash))
        object.__setattr__(self, "claim_delay", as_dist(self.claim_delay, "claim_delay"))
        object.__setattr__(self, "work_time", as_dist(self.work_time, "work_time"))
        for name in ("requests", "concurrency", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise ValueError(f"{name} must be an int, got {v!r}")
        if self.requests < 1:
            raise ValueError(f"requests must be >= 1, got {self.requests}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        kind = protocol_variant(self.variant)  # ValueError naming the variants
        timing = kind(  # the protocol's own checks of the timing (ValueError naming the rule)
            probe_window=self.probe_window,
            deadline=self.deadline,
            grace=self.grace,
            expect=1 if kind.needs_expect else None,
        )
        for name in ("probe_window", "deadline", "grace"):
            object.__setattr__(self, name, getattr(timing, name))
        self.slots()  # validates nesting: no task may dispatch itself, even indirectly

    def replace(self, **changes: Any) -> Scenario:
        """A copy with ``changes`` applied (and validated)."""
        return replace(self, **changes)

    def slots(self) -> list[Slot]:
        """Every worker of the task and of its subtasks, depth first, numbered from 0."""
        out: list[Slot] = []

        def walk(task: str, workers, path: tuple[str, ...]) -> None:
            specs = (WorkerSpec(),) * workers if isinstance(workers, int) else workers
            for k, spec in enumerate(specs):
                sub = spec.subtask
                if sub is not None and sub.task in (*path, task):
                    raise ValueError(f"subtask {sub.task!r} would dispatch itself (via {path})")
                out.append(
                    Slot(
                        index=len(out),
                        task=task,
                        name=spec.name or f"{task}-w{k}",
                        interest=self.interest if spec.interest is None else spec.interest,
                        claim_delay=self.claim_delay
                        if spec.claim_delay is None
                        else spec.claim_delay,
                        work_time=self.work_time if spec.work_time is None else spec.work_time,
                        crash=self.crash if spec.crash is None else spec.crash,
                        subtask=sub.task if sub else None,
                        depth=len(path),
                    )
                )
                if sub is not None:
                    walk(sub.task, sub.workers, (*path, task))

        walk(self.task, self.workers, ())
        pairs = [(s.name, s.task) for s in out]
        if len(pairs) != len(set(pairs)):
            dup = next(p for p in pairs if pairs.count(p) > 1)
            raise ValueError(f"worker {dup[0]!r} appears twice on task {dup[1]!r}")
        return out

    def draws(self) -> Draws:
        """The random draws of every (request, slot), vectorised, one stream per quantity."""
        slots, n = self.slots(), self.requests
        shape = (n, len(slots))
        interested = np.empty(shape, bool)
        claim = np.empty(shape)
        work = np.empty(shape)
        crashed = np.empty(shape, bool)
        for s in slots:
            j = s.index
            interested[:, j] = stream(self.seed, j, _INTEREST).random(n) < s.interest
            claim[:, j] = s.claim_delay.sample(stream(self.seed, j, _CLAIM), n)
            work[:, j] = s.work_time.sample(stream(self.seed, j, _WORK), n)
            crashed[:, j] = interested[:, j] & (stream(self.seed, j, _CRASH).random(n) < s.crash)
        return Draws(interested, claim, work, crashed)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, read back by ``Scenario.from_dict``."""
        return _encode(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scenario:
        return _decode(d)  # type: ignore[return-value]


def _encode(obj: Any) -> Any:
    if isinstance(obj, Dist):
        return obj.to_dict()
    if isinstance(obj, Scenario | WorkerSpec | SubTask):
        return {
            "type": type(obj).__name__,
            **{f.name: _encode(getattr(obj, f.name)) for f in fields(obj)},
        }
    if isinstance(obj, tuple):
        return [_encode(x) for x in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _decode(obj: Any) -> Any:
    if isinstance(obj, list):
        return tuple(_decode(x) for x in obj)
    if isinstance(obj, dict):
        if "dist" in obj:
            return dist_from_dict(obj)
        kinds = {"Scenario": Scenario, "WorkerSpec": WorkerSpec, "SubTask": SubTask}
        kind = kinds.get(obj.get("type"))
        if kind is None:
            raise ValueError(f"not a scenario description: {obj!r}")
        return kind(**{k: _decode(v) for k, v in obj.items() if k != "type"})
    return obj
