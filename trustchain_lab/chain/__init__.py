"""The reference implementation of Trust Chain over Redis (redis-py asyncio).

It runs the protocol core (``trustchain_lab.protocol``) and imports nothing from the lab:
a service can use it on its own.
"""

from ..protocol import Reason, variants
from .acl import acl_rules
from .bus import Bus, RedisBus, Subscription
from .claims import ClaimStore
from .dispatcher import Dispatcher, FinalResponse
from .endpoint import Unavailable, redis_client
from .keys import Keys, check_name
from .line import CommandLine
from .messages import MessageError, PartialMessage, TaskMessage
from .observe import Observer, Step
from .worker import TaskRequest, Worker, always

__all__ = [
    "Bus",
    "ClaimStore",
    "CommandLine",
    "Dispatcher",
    "FinalResponse",
    "Keys",
    "MessageError",
    "Observer",
    "PartialMessage",
    "Reason",
    "RedisBus",
    "Step",
    "Subscription",
    "TaskMessage",
    "TaskRequest",
    "Unavailable",
    "Worker",
    "acl_rules",
    "always",
    "check_name",
    "redis_client",
    "variants",
]
