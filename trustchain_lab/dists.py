"""Distributions of durations (seconds), shared by the real and the simulated backends.

Every distribution is a frozen dataclass that draws with a numpy ``Generator``
(``sample``), knows its mean (``expected``) and survival function ``sf(x) = P(X > x)``
(used by the closed forms), and round-trips through ``to_dict`` / ``dist_from_dict``.

``stream(seed, slot, quantity)`` is the common-random-numbers source: draw ``i`` of it
depends only on (seed, slot, quantity, i), however many are drawn.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _finite_nonneg(name: str, value: float) -> None:
    _check(
        isinstance(value, int | float) and math.isfinite(value) and value >= 0,
        f"{name} must be a finite number >= 0 seconds, got {value!r}",
    )


class Dist(ABC):
    """A distribution of non-negative durations in seconds."""

    @abstractmethod
    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` independent draws."""

    @property
    @abstractmethod
    def expected(self) -> float:
        """The mean duration."""

    @abstractmethod
    def sf(self, x: float) -> float:
        """P(X > x)."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)  # type: ignore[call-overload]
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
        return {"dist": type(self).__name__, **d}


@dataclass(frozen=True)
class Const(Dist):
    """Always ``value``."""

    value: float = 0.0

    def __post_init__(self) -> None:
        _finite_nonneg("Const value", self.value)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, float(self.value))

    @property
    def expected(self) -> float:
        return float(self.value)

    def sf(self, x: float) -> float:
        return 1.0 if self.value > x else 0.0


@dataclass(frozen=True)
class Exponential(Dist):
    """Exponential with the given ``mean`` (> 0)."""

    mean: float = 1.0

    def __post_init__(self) -> None:
        _finite_nonneg("Exponential mean", self.mean)
        _check(self.mean > 0, f"Exponential mean must be > 0, got {self.mean!r}")

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.exponential(self.mean, size)

    @property
    def expected(self) -> float:
        return float(self.mean)

    def sf(self, x: float) -> float:
        return 1.0 if x < 0 else math.exp(-x / self.mean)


@dataclass(frozen=True)
class Uniform(Dist):
    """Uniform on [low, high]."""

    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        _finite_nonneg("Uniform low", self.low)
        _finite_nonneg("Uniform high", self.high)
        _check(self.low <= self.high, f"Uniform needs low <= high, got {self.low}, {self.high}")

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, size)

    @property
    def expected(self) -> float:
        return (self.low + self.high) / 2

    def sf(self, x: float) -> float:
        if self.high == self.low:
            return 1.0 if self.low > x else 0.0
        return min(1.0, max(0.0, (self.high - x) / (self.high - self.low)))


@dataclass(frozen=True)
class LogNormal(Dist):
    """Log-normal with the given ``median`` (> 0) and log-space ``sigma`` (>= 0)."""

    median: float = 1.0
    sigma: float = 0.5

    def __post_init__(self) -> None:
        _finite_nonneg("LogNormal median", self.median)
        _check(self.median > 0, f"LogNormal median must be > 0, got {self.median!r}")
        _finite_nonneg("LogNormal sigma", self.sigma)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.lognormal(math.log(self.median), self.sigma, size)

    @property
    def expected(self) -> float:
        return self.median * math.exp(self.sigma**2 / 2)

    def sf(self, x: float) -> float:
        if x <= 0:
            return 1.0
        if self.sigma == 0:
            return 1.0 if self.median > x else 0.0
        z = (math.log(x) - math.log(self.median)) / (self.sigma * math.sqrt(2))
        return 0.5 * math.erfc(z)


@dataclass(frozen=True)
class Empirical(Dist):
    """Uniformly one of the given samples (e.g. durations measured on a real system)."""

    samples: tuple[float, ...] = (0.0,)

    def __post_init__(self) -> None:
        values = tuple(float(v) for v in np.asarray(self.samples, dtype=float).ravel())
        _check(len(values) > 0, "Empirical needs at least one sample")
        for v in values:
            _finite_nonneg("Empirical sample", v)
        object.__setattr__(self, "samples", values)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.asarray(self.samples)[rng.integers(0, len(self.samples), size)]

    @property
    def expected(self) -> float:
        return float(np.mean(self.samples))

    def sf(self, x: float) -> float:
        return float(np.mean(np.asarray(self.samples) > x))


_KINDS: dict[str, type[Dist]] = {
    k.__name__: k for k in (Const, Exponential, Uniform, LogNormal, Empirical)
}


def as_dist(value: Dist | float | int, name: str) -> Dist:
    """A ``Dist`` as is; a plain number as ``Const``; anything else a ``ValueError``."""
    if isinstance(value, Dist):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Const(float(value))
    raise ValueError(f"{name} must be a Dist or a number of seconds, got {value!r}")


def dist_from_dict(d: dict[str, Any]) -> Dist:
    """Inverse of ``Dist.to_dict``."""
    d = dict(d)
    kind = _KINDS.get(d.pop("dist", None))
    if kind is None:
        raise ValueError(f"unknown distribution in {d!r}")
    names = {f.name for f in fields(kind)}
    return kind(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names})


def stream(seed: int, slot: int, quantity: int) -> np.random.Generator:
    """The generator of one (seed, worker slot, quantity) stream; its i-th draw serves request i.

    Draws are taken in order, so the first ``k`` of them do not depend on how many are taken.
    """
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(slot, quantity)))
    )
