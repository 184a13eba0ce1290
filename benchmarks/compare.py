"""``python -m benchmarks compare OLD NEW``: what changed between two runs, figure by figure."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


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


def _change(old: Any, new: Any) -> str:
    if not all(isinstance(v, int | float) for v in (old, new)):
        return ""
    if old == new:
        return "unchanged"
    if old == 0 or not math.isfinite(old) or not math.isfinite(new):
        return "changed"
    return f"{(new - old) / abs(old):+.1%}"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


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
    suites = list(dict.fromkeys([*old.get("suites", {}), *new.get("suites", {})]))
    for suite in suites:
        a = old.get("suites", {}).get(suite)
        b = new.get("suites", {}).get(suite)
        lines.append(f"\n[{suite}]")
        if a is None or b is None:
            lines.append(f"  only in the {'new' if a is None else 'old'} run")
            continue
        figures = list(dict.fromkeys([*a.get("headline", {}), *b.get("headline", {})]))
        width = max((len(f) for f in figures), default=0)
        for f in figures:
            va, vb = a["headline"].get(f, "-"), b["headline"].get(f, "-")
            lines.append(f"  {f:<{width}}  {_fmt(va):>10} -> {_fmt(vb):<10} {_change(va, vb)}")
        lines.append(
            f"  {'wall seconds':<{width}}  {_fmt(a['seconds']):>10} -> "
            f"{_fmt(b['seconds']):<10} {_change(a['seconds'], b['seconds'])}"
        )
    return "\n".join(lines)
