"""Closed-form results that the SimPy model (and the real runs) are checked against.

All of them assume what the lab calls a *zero network* (``Network.zero()``): commands,
messages and client work take no time, so only the scenario's own draws matter.
"""

from __future__ import annotations

import math

from .dists import Dist


def _check_n(n: int) -> None:
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"the number of workers must be an int >= 1, got {n!r}")


def _check_p(name: str, p: float) -> None:
    if not 0 <= p <= 1:
        raise ValueError(f"{name} must be in [0, 1], got {p!r}")


def empty_probability(workers: int, interest: float) -> float:
    """P(nobody is interested) = (1 - p)^N, for N workers each interested w.p. p (iid)."""
    _check_n(workers)
    _check_p("interest", interest)
    return (1 - interest) ** workers


def probe_miss_probability(
    claim_delay: Dist, window: float, workers: int = 1, interest: float = 1.0
) -> float:
    """P(answered empty at the probe although somebody was interested).

    Assumptions: N workers, each interested independently w.p. p, with iid claim delays C;
    zero network. The probe reads an empty list exactly when no interested worker has
    claimed by the window w (nobody can have finished without claiming first), so
    P = (1 - p·P(C <= w))^N - (1 - p)^N. For one always-interested worker: P(C > w).
    """
    _check_n(workers)
    _check_p("interest", interest)
    if not window > 0:
        raise ValueError(f"window must be > 0, got {window!r}")
    claimed_by_w = 1 - claim_delay.sf(window)
    return (1 - interest * claimed_by_w) ** workers - (1 - interest) ** workers


def harmonic(n: int) -> float:
    """H_n = 1 + 1/2 + … + 1/n."""
    _check_n(n)
    return math.fsum(1 / k for k in range(1, n + 1))


def max_exponential_mean(mean: float, n: int) -> float:
    """E[max of n iid Exponential(mean)] = mean · H_n.

    The wait-for-all latency of a request whose n always-interested workers claim at once
    (zero claim delay, zero network) and work Exponential(mean) each.
    """
    return mean * harmonic(n)


def max_exponential_quantile(mean: float, n: int, q: float) -> float:
    """The q-quantile of the max of n iid Exponential(mean): -mean · ln(1 - q^(1/n))."""
    _check_n(n)
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), got {q!r}")
    return -mean * math.log(1 - q ** (1 / n))


def tail_amplification(fast: float, n: int) -> float:
    """P(a request is slow) = 1 - q^N when each of its N leaves is fast w.p. q (iid).

    The request waits for all its leaves, so it is slow as soon as one leaf is.
    """
    _check_n(n)
    _check_p("fast", fast)
    return 1 - fast**n


def two_worker_race_probability(claim_mean: float, work_mean: float) -> float:
    """P(premature) for two always-interested workers: a / (a + b).

    Assumptions: claim delays Exponential(mean a), work times Exponential(mean b), all
    independent; zero network; a probe window far beyond the claims. The answer is
    premature when one worker claims and finishes before the other claims,
    C1 + W1 < C2 or C2 + W2 < C1 (disjoint events), and
    P(C1 + W1 < C2) = E[exp(-(C1 + W1)/a)] = 1/2 · (1/b) / (1/b + 1/a).
    """
    if not (claim_mean > 0 and work_mean > 0):
        raise ValueError("claim_mean and work_mean must be > 0")
    return claim_mean / (claim_mean + work_mean)


def two_worker_grace_race_probability(claim_mean: float, work_mean: float, grace: float) -> float:
    """P(premature) for two always-interested workers with a grace period G:
    exp(-G/c) · c / (c + w).

    Assumptions as ``two_worker_race_probability`` (claim delays Exponential(mean c), work
    times Exponential(mean w), zero network, a probe window far beyond the claims), and the
    dispatcher, when a pop leaves the list empty, waits G and reads the length again,
    answering only if it is still 0.

    Derivation. Without grace the first finisher's pop empties the list exactly when the
    other worker has not claimed yet; that event has probability c / (c + w) (see
    ``two_worker_race_probability``). Given it, the other worker's claim is still ahead,
    and by the memorylessness of the exponential its remaining delay is again
    Exponential(mean c), independent of the past. The answer is premature only if that
    remaining delay exceeds G: probability exp(-G/c). Otherwise the recheck sees its claim,
    the dispatcher waits for its reply, pops the list empty again, and after one more grace
    period (no claimer is left) answers complete. Multiplying: exp(-G/c) · c / (c + w).
    """
    if not grace >= 0 or not math.isfinite(grace):
        raise ValueError(f"grace must be a finite number >= 0, got {grace!r}")
    return math.exp(-grace / claim_mean) * two_worker_race_probability(claim_mean, work_mean)
