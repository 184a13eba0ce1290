"""``python -m benchmarks compare OLD NEW``: what changed between two runs, figure by figure.

A figure whose suite recorded its 95 % interval (``<figure>_lo`` / ``_hi`` in the headline)
is called a change only when each run's value lies outside the other run's interval;
otherwise it is marked "within noise". A figure timed on real Redis (the suite lists it in
``timings``) that changed while the machine probe moved between the runs is marked "machine
moved": the runs' intervals describe sampling noise, not a machine that changed speed."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .machine import machine_moved


class RunFolderError(ValueError):
    """A folder that is not a benchmark run (no readable meta.json)."""


def load_meta(folder: Path) -> dict[str, Any]:
    meta = folder / "meta.json"
    if not meta.is_file():
        raise RunFolderError(f"{folder} is not a benchmark run folder (no meta.json)")
    try:
        return json.loads(meta.read_text())
    except json.JSONDecodeError as exc:
        raise RunFolderError(f"{meta} is not valid JSON: {exc}") from None


def _relative(old: float, new: float) -> str:
    if old == new:
        return "unchanged"
    if old == 0 or not math.isfinite(old) or not math.isfinite(new):
        return "changed"
    return f"{(new - old) / abs(old):+.1%}"


def _numeric(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _verdict(old: Any, new: Any, old_iv: tuple | None, new_iv: tuple | None) -> str:
    """The change, and whether it is outside both runs' 95 % intervals."""
    if not _numeric(old, new):
        return ""
    change = _relative(old, new)
    if old_iv is None or new_iv is None or not _numeric(*old_iv, *new_iv):
        return f"{change}  (no interval)" if change != "unchanged" else change
    if any(math.isnan(v) for v in (old, new)):
        return f"{change}  (no value)"
    # a NaN bound: too few requests to bound that tail, so the interval is open that side
    (a_lo, a_hi), (b_lo, b_hi) = (
        (-math.inf if math.isnan(lo) else lo, math.inf if math.isnan(hi) else hi)
        for lo, hi in (old_iv, new_iv)
    )
    outside = not a_lo <= new <= a_hi and not b_lo <= old <= b_hi
    return f"{change}  {'outside both intervals' if outside else 'within noise'}"


def _fmt(v: Any, iv: tuple | None = None) -> str:
    text = f"{v:.4g}" if isinstance(v, float) else str(v)
    if iv is not None and _numeric(*iv):
        text += f" [{iv[0]:.3g}, {iv[1]:.3g}]"
    return text


def _interval(headline: dict[str, Any], name: str) -> tuple | None:
    low, high = headline.get(f"{name}_lo"), headline.get(f"{name}_hi")
    return None if low is None or high is None else (low, high)


def compare(old_dir: Path, new_dir: Path) -> str:
    """A text report of every headline figure of both runs, with its relative change."""
    old, new = load_meta(old_dir), load_meta(new_dir)
    lines = [
        f"old: {old_dir} ({old.get('command', '?')}, started {old.get('started', '?')})",
        f"new: {new_dir} ({new.get('command', '?')}, started {new.get('started', '?')})",
    ]
    if old.get("redis_backend") != new.get("redis_backend"):
        lines.append(
            f"note: Redis backend differs: {old.get('redis_backend')} -> {new.get('redis_backend')}"
        )
    if old.get("quick") != new.get("quick"):
        lines.append("note: one run is --quick and the other is not: sizes differ")
    probes, moved = machine_moved(old, new)
    if probes:
        lines += ["machine probe:", *probes]
        if moved:
            lines.append(
                "note: the machine moved between the runs: a change of a real-Redis timing is "
                "marked 'machine moved', not attributed to the code"
            )
    suites = list(dict.fromkeys([*old.get("suites", {}), *new.get("suites", {})]))
    for suite in suites:
        a = old.get("suites", {}).get(suite)
        b = new.get("suites", {}).get(suite)
        lines.append(f"\n[{suite}]")
        if a is None or b is None:
            lines.append(f"  only in the {'new' if a is None else 'old'} run")
            continue
        ha, hb = a.get("headline", {}), b.get("headline", {})
        figures = [f for f in dict.fromkeys([*ha, *hb]) if not f.endswith(("_lo", "_hi"))] + [
            "wall seconds"
        ]
        ha, hb = {**ha, "wall seconds": a["seconds"]}, {**hb, "wall seconds": b["seconds"]}
        timed = {"wall seconds", *a.get("timings", []), *b.get("timings", [])}
        width = max(len(f) for f in figures)
        for f in figures:
            va, vb = ha.get(f, "-"), hb.get(f, "-")
            ia, ib = _interval(ha, f), _interval(hb, f)
            verdict = _verdict(va, vb, ia, ib)
            if moved and f in timed and verdict.endswith(("outside both intervals", "interval)")):
                verdict += ", but the machine moved"
            lines.append(
                f"  {f:<{width}}  {_fmt(va, ia):>24} -> {_fmt(vb, ib):<24} {verdict}".rstrip()
            )
    return "\n".join(lines)
