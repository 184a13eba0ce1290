"""The protocol's vocabulary, one list for every layer: trace steps, reasons, outcomes."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What one trace step records (``value`` and ``note`` say more, as listed)."""

    DISPATCH = "dispatch"  # note: parent request id, for a subtask
    DELIVER = "deliver"  # a worker received the task
    INTEREST = "interest"  # value: 1 interested, 0 not
    CLAIM = "claim"  # the worker's claim is on the list
    CLAIM_REFUSED = "claim_refused"  # the request was sealed: no claim, no work
    WORK_START = "work_start"
    CRASH = "crash"  # the lab's fault: claimed, then never answers
    WORK_END = "work_end"  # note: "error" when the work raised
    PARTIAL_SENT = "partial_sent"  # a partial (or a decline) published
    PARTIAL_RECEIVED = "partial_received"  # taken into the answer; note: worker
    PARTIAL_LATE = "partial_late"  # came after the answer was decided; note: worker
    PARTIAL_DUPLICATE = "partial_duplicate"  # a second reply of one worker, dropped; note: worker
    POP = "pop"  # value: claims the pop left
    PROBE = "probe"  # value: claims the probe read
    RECHECK = "recheck"  # value: claims read after the grace period
    FINAL = "final"  # value: partials included; note: reason


class Reason(StrEnum):
    """Why a dispatcher stopped collecting and answered."""

    CLAIMS_DRAINED = "claims_drained"  # a pop (or the grace recheck) left the claim list empty
    PROBE_EMPTY = "probe_empty"  # the probe read an empty claim list: nobody is interested
    ALL_REPLIED = "all_replied"  # every expected receiver answered (known, ack)
    NO_RECEIVERS = "no_receivers"  # the broadcast reached nobody (ack)
    LOST_CLAIMS = "lost_claims"  # the claim list vanished (e.g. Redis restarted): no answer
    # drawn from it could be trusted
    MISSED_BROADCAST = "missed_broadcast"  # the broadcast reached fewer listeners than it
    # usually does: one may have missed it, so no answer could be trusted
    DEADLINE = "deadline"  # the deadline fired first


class Outcome(StrEnum):
    """What the answer was worth, decided from the trace by the one classifier."""

    COMPLETE = "complete"  # a partial from every worker that decided to work on it
    EMPTY = "empty"  # nobody was interested, and the answer said so
    PROBE_MISS = "probe_miss"  # answered empty at the probe while a worker was interested
    PREMATURE = "premature"  # answered while an interested worker's partial was still to come
    EXCLUDED = "excluded"  # an interested worker was refused in time (sealed): no work wasted
    FAILED = "failed"  # the answer said it could not be trusted (lost_claims,
    # missed_broadcast)
    TIMEOUT = "timeout"  # the deadline fired first, or no answer at all


class Timer(StrEnum):
    """The timers a dispatcher sets for one request."""

    PROBE = "probe"
    GRACE = "grace"
    DEADLINE = "deadline"


class Action(StrEnum):
    """What a worker does once it knows whether it is interested."""

    CLAIM = "claim"  # push a claim, work if it was accepted, then reply
    WORK = "work"  # work, then reply
    DECLINE = "decline"  # reply at once that it is not interested
    NOTHING = "nothing"  # stay silent
