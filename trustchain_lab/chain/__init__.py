"""The reference implementation of Trust Chain over Redis (redis-py asyncio).

It imports nothing from the lab: a service can use it on its own.
"""

from .bus import Bus, RedisBus, Subscription
from .dispatcher import (
    ALL_REPLIED,
    CLAIMS_DRAINED,
    DEADLINE,
    PROBE_EMPTY,
    Dispatcher,
    FinalResponse,
)
from .endpoint import redis_client
from .keys import Keys, check_name
from .messages import MessageError, PartialMessage, TaskMessage
from .observe import Observer, Step
from .worker import TaskRequest, Worker, always

__all__ = [
    "ALL_REPLIED",
    "CLAIMS_DRAINED",
    "DEADLINE",
    "PROBE_EMPTY",
    "Bus",
    "Dispatcher",
    "FinalResponse",
    "Keys",
    "MessageError",
    "Observer",
    "PartialMessage",
    "RedisBus",
    "Step",
    "Subscription",
    "TaskMessage",
    "TaskRequest",
    "Worker",
    "always",
    "check_name",
    "redis_client",
]
