"""A log of protocol steps in flat columns: cheap to append, light to import.

The lab's worker processes use it as it is (it needs neither numpy nor pandas);
``trace.Recorder`` adds the events table on top.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

EVENT_COLUMNS = ("t", "request_id", "task", "actor", "kind", "value", "note")


class StepLog:
    """Steps stamped by ``clock`` (default: the system-wide monotonic clock, the same in
    every process of the machine, so logs of several processes merge into one trace)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.columns: tuple[list[Any], ...] = tuple([] for _ in EVENT_COLUMNS)

    def add(
        self,
        t: float,
        request_id: str,
        task: str,
        actor: str,
        kind: str,
        value: float | None = None,
        note: str | None = None,
    ) -> None:
        for col, v in zip(
            self.columns, (t, request_id, task, actor, kind, value, note), strict=True
        ):
            col.append(v)

    def observe(self, step: Any) -> None:
        """A ``chain`` observer: stamps the ``chain.Step`` with this log's clock."""
        self.add(
            self.clock(), step.request_id, step.task, step.actor, step.kind, step.value, step.note
        )

    def extend(self, columns: dict[str, list[Any]]) -> None:
        """Append another log's columns (``as_dict``)."""
        for col, name in zip(self.columns, EVENT_COLUMNS, strict=True):
            col.extend(columns[name])

    def as_dict(self) -> dict[str, list[Any]]:
        return dict(zip(EVENT_COLUMNS, self.columns, strict=True))
