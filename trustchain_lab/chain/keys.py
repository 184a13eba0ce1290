"""Every Redis key and channel name of the protocol, built in one place under one prefix."""

from __future__ import annotations

from dataclasses import dataclass

from ..protocol.names import check_name


@dataclass(frozen=True)
class Keys:
    """Names of the protocol's keys and channels, all under ``prefix``.

    - ``task_channel(task)``: the bus topic a task is broadcast on;
    - ``reply_channel(dispatcher)``: where one dispatcher receives every partial result;
    - ``claim_list(task, request_id)``: the shared list ``{TaskName}-{RequestID}``;
    - ``marker(task, request_id)``: present while the request is open (from its broadcast
      until it is closed), so a claim list that vanished can be told from an empty one.

    A request's keys share the hash tag ``{TaskName}-{RequestID}``, so a script that
    touches both stays on one Redis Cluster slot.
    """

    prefix: str = "tc"

    def __post_init__(self) -> None:
        check_name(self.prefix, "key prefix")

    def task_channel(self, task: str) -> str:
        return f"{self.prefix}:task:{task}"

    def reply_channel(self, dispatcher: str) -> str:
        return f"{self.prefix}:reply:{dispatcher}"

    def claim_list(self, task: str, request_id: str) -> str:
        return f"{self.prefix}:claims:{{{task}-{request_id}}}"

    def marker(self, task: str, request_id: str) -> str:
        return f"{self.prefix}:open:{{{task}-{request_id}}}"

    def pattern(self) -> str:
        """A SCAN pattern matching every key of ours (the prefix is glob-free by construction)."""
        return f"{self.prefix}:*"

    def claim_lists_pattern(self) -> str:
        """A SCAN pattern matching every claim list of ours."""
        return self.claim_list("*", "*").replace("{*-*}", "*")

    def markers_pattern(self) -> str:
        """A SCAN pattern matching every request marker of ours."""
        return self.marker("*", "*").replace("{*-*}", "*")
