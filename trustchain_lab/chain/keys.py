"""Every Redis key and channel name of the protocol, built in one place under one prefix."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_NAME_LENGTH = 128
_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f*?\[\]]")


def check_name(name: str, what: str = "task name") -> str:
    """Return ``name`` if it is safe inside a key or channel name, else raise ``ValueError``.

    The rules: a non-empty ``str`` of at most 128 characters, without whitespace, control
    characters or the glob characters ``* ? [ ]`` (they would make channel patterns and
    key scans match more than they should).
    """
    if not isinstance(name, str):
        raise ValueError(f"{what} must be a str, got {type(name).__name__}")
    if not name:
        raise ValueError(f"{what} must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{what} must be at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    bad = _FORBIDDEN.search(name)
    if bad:
        raise ValueError(
            f"{what} {name!r} holds {bad.group()!r}: whitespace, control characters and "
            "the glob characters * ? [ ] are not allowed"
        )
    return name


@dataclass(frozen=True)
class Keys:
    """Names of the protocol's keys and channels, all under ``prefix``.

    - ``task_channel(task)``: the bus topic a task is broadcast on;
    - ``reply_channel(dispatcher)``: where one dispatcher receives every partial result;
    - ``claim_list(task, request_id)``: the shared list ``{TaskName}-{RequestID}``;
    - ``seal(task, request_id)``: present once the request is sealed (variant ``sealed``).

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

    def seal(self, task: str, request_id: str) -> str:
        return f"{self.prefix}:sealed:{{{task}-{request_id}}}"

    def pattern(self, kind: str = "*") -> str:
        """A SCAN pattern matching every key of ours, or (``kind="claims"`` or ``"sealed"``)
        the claim lists or seals only. The prefix is glob-free by construction."""
        return f"{self.prefix}:*" if kind == "*" else f"{self.prefix}:{kind}:*"
