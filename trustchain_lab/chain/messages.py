"""The two messages on the bus: small versioned JSON objects with a ``type`` field.

``encode_task`` / ``decode`` and ``encode_partial`` / ``decode`` are paired; ``decode``
raises ``MessageError`` for anything that is not one of our messages, so a loop can count
and log it and go on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..protocol import MAX_DEADLINE, check_name, variant_names

VERSION = 2  # 2: ``variant`` names the protocol variant (was ``mode``)
MAX_MESSAGE_BYTES = 1 << 20  # default limit of one message, sent or received
TTL_MARGIN = 5  # seconds a claim list (or a seal) outlives its request's deadline
MAX_CLAIM_TTL = MAX_DEADLINE + TTL_MARGIN  # a task asking for more is not one of ours


class MessageError(ValueError):
    """A message on one of our channels that is not a well-formed message of ours."""


@dataclass(frozen=True, slots=True)
class TaskMessage:
    """A task broadcast: who asks (``reply_to``), for what, with which payload."""

    task: str
    request_id: str
    reply_to: str
    payload: Any
    variant: str = "seed"  # a name from protocol.variants(): workers follow its rules
    parent: str | None = None
    claim_ttl: int = 3600  # seconds the claim list may live (a backstop; it is deleted at the end)


@dataclass(frozen=True, slots=True)
class PartialMessage:
    """One worker's partial result (``ok``) or the error its handler raised (not ``ok``)."""

    request_id: str
    worker: str
    ok: bool
    result: Any = None
    error: str | None = None
    interested: bool = True


def encode_json(obj: dict[str, Any]) -> bytes:
    """JSON-encode ``obj``; a value JSON cannot hold raises ``TypeError`` naming it."""
    try:
        return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"not JSON-serialisable: {exc}") from None


def _limited(data: bytes, max_bytes: int, what: str) -> bytes:
    if len(data) > max_bytes:
        raise ValueError(
            f"{what} is {len(data):,} bytes, over the limit of {max_bytes:,} (max_message_bytes)"
        )
    return data


def encode_task(msg: TaskMessage, max_bytes: int = MAX_MESSAGE_BYTES) -> bytes:
    """The task as bytes; ``TypeError`` if JSON cannot hold the payload, ``ValueError`` if
    it is longer than ``max_bytes``."""
    return _limited(_task_json(msg), max_bytes, "the task message")


def encode_partial(msg: PartialMessage, max_bytes: int = MAX_MESSAGE_BYTES) -> bytes:
    """The partial as bytes; ``TypeError`` / ``ValueError`` as ``encode_task``."""
    return _limited(_partial_json(msg), max_bytes, "the partial result")


def _task_json(msg: TaskMessage) -> bytes:
    return encode_json(
        {
            "type": "task",
            "v": VERSION,
            "task": msg.task,
            "request_id": msg.request_id,
            "reply_to": msg.reply_to,
            "variant": msg.variant,
            "parent": msg.parent,
            "claim_ttl": msg.claim_ttl,
            "payload": msg.payload,
        }
    )


def _partial_json(msg: PartialMessage) -> bytes:
    return encode_json(
        {
            "type": "partial",
            "v": VERSION,
            "request_id": msg.request_id,
            "worker": msg.worker,
            "ok": msg.ok,
            "interested": msg.interested,
            "result": msg.result,
            "error": msg.error,
        }
    )


def _field(obj: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind):
        raise MessageError(f"field {name!r} missing or not {kind}")
    return value


def _name(obj: dict[str, Any], field: str) -> str:
    value = _field(obj, field, str)
    try:
        return check_name(value, field)
    except ValueError as exc:
        raise MessageError(str(exc)) from None


def _channel(obj: dict[str, Any], field: str) -> str:
    value = _field(obj, field, str)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MessageError(f"field {field!r} cannot be encoded in UTF-8") from None
    return value


def decode(data: bytes | str, max_bytes: int = MAX_MESSAGE_BYTES) -> TaskMessage | PartialMessage:
    """Parse one bus message; raise ``MessageError`` (and nothing else) when it is not one
    of ours, whatever the bytes: too long, not JSON, nested too deep, fields missing or of
    the wrong type, names a key could not hold, a claim TTL beyond ``MAX_CLAIM_TTL``."""
    if not isinstance(data, bytes | str):
        raise MessageError(f"not bytes or str: {type(data).__name__}")
    if len(data) > max_bytes:
        raise MessageError(f"{len(data):,} bytes, over the limit of {max_bytes:,}")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MessageError(f"not JSON: {type(exc).__name__}: {str(exc)[:100]}") from None
    if not isinstance(obj, dict):
        raise MessageError("not a JSON object")
    if obj.get("v") != VERSION:
        raise MessageError(f"unsupported version {obj.get('v')!r}")
    kind = obj.get("type")
    if kind == "task":
        variant = _field(obj, "variant", str)
        if variant not in variant_names():
            raise MessageError(f"unknown variant {variant!r}")
        claim_ttl = _field(obj, "claim_ttl", int)
        if isinstance(claim_ttl, bool) or not 1 <= claim_ttl <= MAX_CLAIM_TTL:
            raise MessageError(f"claim_ttl must be in [1, {MAX_CLAIM_TTL}], got {claim_ttl}")
        parent = obj.get("parent")
        if parent is not None and not isinstance(parent, str):
            raise MessageError("field 'parent' not a str")
        return TaskMessage(
            task=_name(obj, "task"),
            request_id=_name(obj, "request_id"),
            reply_to=_channel(obj, "reply_to"),
            payload=obj.get("payload"),
            variant=variant,
            parent=parent,
            claim_ttl=claim_ttl,
        )
    if kind == "partial":
        error = obj.get("error")
        if error is not None and not isinstance(error, str):
            raise MessageError("field 'error' not a str")
        return PartialMessage(
            request_id=_name(obj, "request_id"),
            worker=_name(obj, "worker"),
            ok=_field(obj, "ok", bool),
            interested=_field(obj, "interested", bool),
            result=obj.get("result"),
            error=error,
        )
    raise MessageError(f"unknown message type {kind!r}")
