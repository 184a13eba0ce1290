"""Who talks to whom in a run of a ``Scenario``: built once, used by both runners."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .scenario import Scenario, Slot

GATEWAY = "gateway"  # the top-level dispatcher of every run


@dataclass(frozen=True)
class Topology:
    """The actors of a run and what each listens to.

    - ``slots``: every (worker, task) pair, as ``Scenario.slots()`` numbers them;
    - ``tasks``: the scenario's task first, then each subtask once;
    - ``actors``: the gateway, then each worker once (a worker may serve several tasks);
    - ``subscribers``: per task (in ``tasks`` order), the slots that receive it, in
      subscription order;
    - ``sub_dispatchers``: workers that dispatch a subtask (they are dispatchers too).
    """

    slots: tuple[Slot, ...]
    tasks: tuple[str, ...]
    actors: tuple[str, ...]
    subscribers: tuple[tuple[int, ...], ...]
    sub_dispatchers: tuple[str, ...]

    @classmethod
    def of(cls, scenario: Scenario) -> Topology:
        slots = tuple(scenario.slots())
        tasks = tuple(dict.fromkeys([scenario.task, *(s.task for s in slots)]))
        return cls(
            slots=slots,
            tasks=tasks,
            actors=(GATEWAY, *dict.fromkeys(s.name for s in slots)),
            subscribers=tuple(tuple(s.index for s in slots if s.task == t) for t in tasks),
            sub_dispatchers=tuple(dict.fromkeys(s.name for s in slots if s.subtask)),
        )

    def workers_on(self) -> Counter[str]:
        """How many workers listen to each task (what ``known`` expects)."""
        return Counter(s.task for s in self.slots)
