"""The Trust Chain protocol with no I/O: per-request state machines, vocabulary, variants.

Both backends run this: ``trustchain_lab.chain`` over Redis, ``trustchain_lab.sim`` in
SimPy. It imports neither redis nor simpy.
"""

from .claims import MemoryClaims
from .collector import MAX_DEADLINE, ClaimCollector, Collector, CountCollector
from .commands import Close, Command, Final, Note, Pop, ReadLength, SetTimer
from .names import check_name
from .registry import VariantInfo, register, variant, variant_names, variants
from .vocab import Action, Kind, Outcome, Reason, Timer

__all__ = [
    "MAX_DEADLINE",
    "Action",
    "ClaimCollector",
    "Close",
    "Collector",
    "Command",
    "CountCollector",
    "Final",
    "Kind",
    "MemoryClaims",
    "Note",
    "Outcome",
    "Pop",
    "ReadLength",
    "Reason",
    "SetTimer",
    "Timer",
    "VariantInfo",
    "check_name",
    "register",
    "variant",
    "variant_names",
    "variants",
]
