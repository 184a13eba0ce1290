"""The variant registry: every module in ``protocol/catalog/`` registers its collector."""

from __future__ import annotations

import importlib
import pkgutil
from typing import NamedTuple

from .collector import Collector

_VARIANTS: dict[str, type[Collector]] = {}
_loaded = False


class VariantInfo(NamedTuple):
    """One line of ``variants()``."""

    name: str
    guarantee: str
    grace: bool  # takes the ``grace`` parameter


def register(cls: type[Collector]) -> type[Collector]:
    """Class decorator: make ``cls`` a variant under ``cls.name``."""
    if not cls.name or cls.name in _VARIANTS:
        raise ValueError(f"variant name {cls.name!r} is empty or taken")
    _VARIANTS[cls.name] = cls
    return cls


def _load() -> None:
    global _loaded
    if not _loaded:
        from . import catalog as package

        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
        _loaded = True


def variant(name: str) -> type[Collector]:
    """The collector class of variant ``name``; ``ValueError`` listing the names otherwise."""
    _load()
    try:
        return _VARIANTS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown variant {name!r}; choose from {', '.join(variant_names())}"
        ) from None


def variant_names() -> tuple[str, ...]:
    """Names of every variant, in ``variants()`` order."""
    _load()
    return tuple(sorted(_VARIANTS, key=lambda n: (_VARIANTS[n].rank, n)))


def variants() -> list[VariantInfo]:
    """Every variant: name, the one-line guarantee, whether it takes ``grace``."""
    return [
        VariantInfo(n, _VARIANTS[n].guarantee, _VARIANTS[n].takes_grace) for n in variant_names()
    ]
