"""What every suite shares: the run context, the suite output, and the report folder."""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

from trustchain_lab.stats import Z95


@dataclass
class Context:
    """Everything a suite needs to know about this run."""

    quick: bool
    backends: tuple[str, ...]  # a subset of ("sim", "redis"), in that order
    out: Path  # the run folder: data, figures and report.md go here
    seed: int = 0
    variant: str = "seed"  # the protocol of the suites that run one (--variant)
    redis_url: str | None = None  # a redis:// URL or "fakeredis", when "redis" is in backends
    redis_backend: str | None = None  # "redis" or "fakeredis": what the redis URL really is
    progress: bool | None = None  # None: bars only when stderr is a terminal
    placement: str = "inline"  # where the real workers of fanout and throughput run
    suite: str = ""  # the suite running now

    calibration: Any = None  # trustchain_lab.sim.Calibration, measured once when needed
    calibrations: dict[str, Any] = field(default_factory=dict)  # other placements'
    model_points: set[tuple[str, int, int, str]] = field(default_factory=set)  # asked of
    # the model: (placement, workers, in flight, family)

    def size(self, quick: int, full: int) -> int:
        return quick if self.quick else full

    def path(self, name: str) -> Path:
        return self.out / name

    @property
    def sim(self) -> bool:
        return "sim" in self.backends

    def label(self, backend: str) -> str:
        """How a backend is labelled in data and figures: "sim", "redis" or "fakeredis"."""
        return backend if backend == "sim" else (self.redis_backend or "redis")

    def calibration_for(self, placement: str = "inline"):
        """The calibration behind ``network(placement)`` (None or False if none)."""
        self.network(placement)
        return self.calibration if placement == "inline" else self.calibrations.get(placement)

    def network(self, placement: str = "inline"):
        """The model's ``Network``: calibrated on this run's Redis when it is a real one,
        for workers placed as ``placement`` (their own CPU out of this process; for
        ``"hosts"`` also the proxy on the bridge their connections cross)."""
        from trustchain_lab.calibration import measure
        from trustchain_lab.link import Link
        from trustchain_lab.sim import Network

        if placement != "inline":
            if self.redis_backend != "redis":
                return Network(shared_client_cpu=False)
            if placement not in self.calibrations:
                link = Link() if placement == "hosts" else None
                self.calibrations[placement] = measure(
                    self.redis_url, shared_client_cpu=False, link=link
                )
            return self.calibrations[placement].network
        if self.calibration is None:
            if self.redis_backend == "redis":
                self.calibration = measure(self.redis_url)
            else:
                self.calibration = False  # defaults: no real Redis to calibrate on
        return self.calibration.network if self.calibration else Network()

    def bar(self, items: list, desc: str):
        """A progress bar over a sweep (silent when stderr is not a terminal)."""
        from tqdm import tqdm

        disable = None if self.progress is None else not self.progress
        return tqdm(items, desc=desc, leave=False, disable=disable)

    def sweep(self, scenarios: list, backend: str, measure=None, placement: str = "inline"):
        """``trustchain_lab.sweep`` on ``backend``: the model in parallel processes, real
        Redis one scenario at a time (parallel runs would distort its timings)."""
        from trustchain_lab import sweep

        if backend == "sim":
            net = self.network(placement)
            for sc in scenarios:
                self.asked(sc, placement)
            return sweep(scenarios, "sim", network=net, progress=self.progress, measure=measure)
        return sweep(
            scenarios,
            "redis",
            redis_url=self.redis_url,
            jobs=1,
            progress=self.progress,
            measure=measure,
            placement=placement,
        )

    def asked(self, scenario, placement: str) -> None:
        """Note a point asked of the model (its validity is reported with the suite)."""
        from trustchain_lab import Topology
        from trustchain_lab.fidelity import family

        workers = len(Topology.of(scenario).slots)
        self.model_points.add((placement, workers, scenario.concurrency, family(scenario)))

    def validity(self):
        """(folder, ranges) of the newest fidelity run in this results folder, or None."""
        from .fidelity import VALIDITY_FILE

        found = sorted(self.out.parent.glob(f"*/{VALIDITY_FILE}"), key=lambda p: p.stat().st_mtime)
        if not found:
            return None
        return found[-1].parent.name, pd.read_csv(found[-1])

    def run(self, scenario, backend: str, placement: str = "inline"):
        """Run ``scenario`` on ``backend`` ("sim" or "redis") and return its RunResult."""
        from trustchain_lab import run_redis, run_sim

        if backend == "sim":
            self.asked(scenario, placement)
            return run_sim(scenario, self.network(placement), progress=False)
        return run_redis(scenario, self.redis_url, placement=placement, progress=False)


@dataclass
class SuiteOutput:
    """A suite's tidy data, its figures (file names in the run folder) and its report text.

    ``timings`` names the headline figures that move with the machine (timed on real
    Redis, computed by the model on a network calibrated in the run, or the model's own
    speed): ``compare`` says so when the machine moved between two runs."""

    name: str
    title: str
    data: pd.DataFrame
    markdown: str
    figures: list[str] = field(default_factory=list)
    headline: dict[str, Any] = field(default_factory=dict)
    timings: list[str] = field(default_factory=list)


def run_metadata(ctx: Context, argv: list[str]) -> dict[str, Any]:
    packages = ("trustchain_lab", "redis", "fakeredis", "simpy", "numpy", "pandas", "matplotlib")
    return {
        "command": " ".join(["python -m benchmarks", *argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": ctx.quick,
        "seed": ctx.seed,
        "variant": ctx.variant,
        "placement": ctx.placement,
        "backends": list(ctx.backends),
        "redis_backend": ctx.redis_backend,
        "python": sys.version.split()[0],
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpus": __import__("os").cpu_count(),
        },
        "versions": {("redis-py" if p == "redis" else p): version(p) for p in packages},
        "suites": {},
    }


class Report:
    """``report.md`` and ``meta.json``, rewritten after every suite so a stop leaves them valid."""

    def __init__(self, ctx: Context, meta: dict[str, Any]) -> None:
        self.ctx = ctx
        self.meta = meta
        self.sections: list[str] = []
        self.status = "running"

    def add(self, output: SuiteOutput, seconds: float) -> None:
        output.data.to_csv(self.ctx.path(f"{output.name}.csv"), index=False)
        figures = "".join(f"\n![{f}]({f})\n" for f in output.figures)
        validity = self.validity_note()
        self.sections.append(
            f"## {output.title}\n\n{output.markdown.strip()}\n{figures}\n{validity}"
            f"_Data: `{output.name}.csv`; {seconds:.1f} s._\n"
        )
        self.meta["suites"][output.name] = {
            "seconds": round(seconds, 2),
            "figures": output.figures,
            "headline": output.headline,
            "timings": output.timings,
        }
        self.write()

    def validity_note(self) -> str:
        """Which points the suite asked of the model lie outside the validated ranges."""
        from trustchain_lab.fidelity import outside

        points, self.ctx.model_points = sorted(self.ctx.model_points), set()
        if not points or self.ctx.suite == "fidelity":  # it measures the validity itself
            return ""
        found = self.ctx.validity()
        if found is None:
            return (
                f"_Model validity: unchecked on this machine (no fidelity run in "
                f"`{self.ctx.out.parent}`; `python -m benchmarks fidelity` maps it)._\n\n"
            )
        folder, ranges = found
        reasons = [r for p in points if (r := outside(ranges, *p)) is not None]
        if not reasons:
            return f"_Model validity: every point is inside the ranges of run `{folder}`._\n\n"
        shown = "; ".join(dict.fromkeys(reasons))
        return (
            f"_Model validity: {len(reasons)} of {len(points)} model points lie outside the "
            f"ranges validated by fidelity run `{folder}`: {shown}._\n\n"
        )

    def note(self, text: str) -> None:
        self.sections.append(text.strip() + "\n")
        self.write()

    def calibration_note(self) -> str:
        cal = self.ctx.calibration
        others = "".join(_placement_note(p, c) for p, c in self.ctx.calibrations.items())
        if not cal:
            return (
                "The model used the default `Network` for inline workers (no real Redis was "
                f"calibrated for them in this run).{others}"
            )
        m = cal.measured
        return (
            f"The model used a `Network` calibrated on this run's Redis: PING round trip "
            f"p50 {m['ping_rtt_p50'] * 1e6:.0f} µs, client CPU "
            f"{m['client_seconds_per_op_by_cpu'] * 1e6:.0f} µs per operation and "
            f"{m['client_seconds_per_wake'] * 1e6:.0f} µs per wake of an idle loop (by CPU "
            "accounting), server time per "
            f"command {m['server_seconds_per_command'] * 1e6:.2f} µs and per subscriber "
            f"{m['server_seconds_per_subscriber'] * 1e6:.2f} µs ({_spread(m)}).{others}"
        )

    def write(self) -> None:
        m = self.meta
        head = [
            f"# trustchain_lab benchmarks ({'quick' if m['quick'] else 'default'} run)",
            "",
            f"- command: `{m['command']}`",
            f"- started: {m['started']}, seed {m['seed']}, variant `{m.get('variant', 'seed')}`"
            " (suites that compare variants run them all)",
            f"- status: **{self.status}**",
            f"- backends: {', '.join(m['backends'])}",
        ]
        if m.get("redis_backend") == "fakeredis":
            head.append(
                "- **real-Redis timings are missing**: no Redis was reachable, so the "
                "'real' runs used fakeredis, an in-process stand-in whose timings are "
                "not Redis timings"
            )
        elif m.get("redis_backend"):
            head.append(f"- Redis: {m.get('redis', {})}")
        head.append(f"- versions: {', '.join(f'{k} {v}' for k, v in m['versions'].items())}")
        if self.ctx.sim:
            head.append(f"- {self.calibration_note()}")
        head.append(f"- {_machine_note(m.get('machine', {}))}")
        headlines = [
            f"| {suite} | {k} | {_fmt(v)} | {_interval(info['headline'], k)} |"
            for suite, info in m["suites"].items()
            for k, v in info.get("headline", {}).items()
            if not k.endswith(("_lo", "_hi"))
        ]
        if headlines:
            head += [
                "",
                "## Headline figures",
                "",
                "| suite | figure | value | 95 % interval |",
                "|---|---|---|---|",
                *headlines,
            ]
        text = "\n".join(head) + "\n\n" + "\n".join(self.sections)
        self.ctx.path("report.md").write_text(text)
        self.ctx.path("meta.json").write_text(json.dumps(self.meta, indent=2, default=str))


QUANTILE_INTERVAL = (  # how a summary's latency quantile intervals are made, for report text
    "95 % interval (a moving-block bootstrap over the requests in dispatch order, never "
    "narrower than the distribution-free one; nan: too few requests to bound that tail)"
)


def requests_for(half_width: float, rate: float = 0.5) -> int:
    """Requests that give a rate's 95 % interval at most ±``half_width`` (at ``rate``; 0.5
    is the worst case): n = z² p(1-p) / h²."""
    return max(1, math.ceil(Z95**2 * rate * (1 - rate) / half_width**2))


def with_interval(value: float, low: float, high: float, fmt: str = ".4g") -> str:
    """``value [low, high]`` as text; a bound too few requests cannot give shows as nan."""
    return f"{value:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


def interval_columns(df: pd.DataFrame, figure: str, fmt: str = ".4g") -> list[str]:
    """Column ``figure`` of ``df`` with its ``_lo`` / ``_hi`` columns, as text."""
    return [
        with_interval(v, lo, hi, fmt)
        for v, lo, hi in zip(df[figure], df[f"{figure}_lo"], df[f"{figure}_hi"], strict=True)
    ]


def headline_with_interval(name: str, value: float, low: float, high: float) -> dict[str, float]:
    """A headline figure and its 95 % interval, as ``compare`` reads them."""
    return {name: float(value), f"{name}_lo": float(low), f"{name}_hi": float(high)}


CLOSED_FORM = "closed form"  # the backend label of a closed form's rows: exact, no interval


def _with_bounds(df: pd.DataFrame, figure: str, scale: float):
    """(backend, value, low, high) of each row, times ``scale``."""
    columns = (df[figure], df[f"{figure}_lo"], df[f"{figure}_hi"])
    for backend, *values in zip(df["backend"], *columns, strict=True):
        yield backend, *(v * scale for v in values)


def figure_text(df: pd.DataFrame, figure: str, scale: float = 1.0) -> list[str]:
    """``figure`` of each row as text (times ``scale``): a closed form's value alone, a
    measured one with its 95 % interval (columns ``<figure>_lo`` / ``_hi``)."""
    return [
        f"{v:.4g}" if b == CLOSED_FORM else with_interval(v, lo, hi)
        for b, v, lo, hi in _with_bounds(df, figure, scale)
    ]


def headline_figures(df: pd.DataFrame, name: str, figure: str, scale: float = 1.0) -> dict:
    """A headline per row, ``name.format(backend=…)``: a closed form's value alone, a
    measured one with its 95 % interval."""
    out: dict[str, float] = {}
    for b, v, lo, hi in _with_bounds(df, figure, scale):
        key = name.format(backend=b)
        out.update({key: float(v)} if b == CLOSED_FORM else headline_with_interval(key, v, lo, hi))
    return out


def error_bars(ax, x, y, low, high, **style) -> None:
    """Points with their 95 % intervals (bounds that are NaN are drawn as none)."""
    import numpy as np

    y, low, high = (np.asarray(a, dtype=float) for a in (y, low, high))
    below = np.nan_to_num(y - low, nan=0.0).clip(min=0)
    above = np.nan_to_num(high - y, nan=0.0).clip(min=0)
    ax.errorbar(x, y, yerr=[below, above], capsize=2.5, **style)


def _placement_note(placement: str, cal: Any) -> str:
    """One sentence on the calibration for workers placed out of the benchmark's process."""
    m, net = cal.measured, cal.network
    per_op, per_wake = m["client_seconds_per_op_by_cpu"], m["client_seconds_per_wake"]
    return (
        f" For workers placed `{placement}`: client CPU {per_op * 1e6:.0f} µs per operation"
        f" and {per_wake * 1e6:.0f} µs per wake, "
        f"{net.cores} cores shared, one way {net.one_way * 1e6:.0f} µs."
    )


def _machine_note(machine: dict[str, dict[str, float]]) -> str:
    """The machine probe at the start (and end) of the run, in one line."""
    parts = []
    for when in ("start", "end"):
        if when in machine:
            p = machine[when]
            text = f"{when}: Python loop {p['python_loop_s'] * 1e3:.1f} ms"
            if "ping_rtt_p50_s" in p:
                text += f", PING p50 {p['ping_rtt_p50_s'] * 1e6:.0f} µs"
            parts.append(text)
    return "machine probe (real-Redis timings move with it; `compare` checks it): " + "; ".join(
        parts
    )


def _spread(measured: dict[str, Any]) -> str:
    """How much a calibration's repeats disagreed, in words."""
    from trustchain_lab.calibration import watched

    shown = watched(measured)
    spread = {k: v for k, v in (measured.get("spread") or {}).items() if k in shown}
    if not spread:
        return "measured once"
    return f"medians of {measured.get('repeats')} repeats; spread, (max - min) / median: " + (
        ", ".join(f"{k} {v:.0%}" for k, v in spread.items())
    )


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _interval(headline: dict[str, Any], name: str) -> str:
    low, high = headline.get(f"{name}_lo"), headline.get(f"{name}_hi")
    return "" if low is None or high is None else f"[{_fmt(low)}, {_fmt(high)}]"


def readable_log_axis(ax, which: str = "y") -> None:
    """Ticks at 1, 2 and 5 of every decade, written as plain numbers: a log axis spanning
    less than a decade otherwise carries a single label."""
    from matplotlib.ticker import LogLocator, NullFormatter, NullLocator, StrMethodFormatter

    axis = ax.yaxis if which == "y" else ax.xaxis
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(StrMethodFormatter("{x:g}"))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def markdown_table(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A small DataFrame as a Markdown table (no tabulate dependency)."""
    cols = list(df.columns)

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v)

    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    rows += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join(rows)


STYLE = {  # backend -> matplotlib keyword arguments, the same in every figure
    CLOSED_FORM: {"linestyle": "-", "marker": "", "alpha": 0.7},
    "sim": {"linestyle": "--", "marker": "o", "markersize": 4},
    "redis": {"linestyle": ":", "marker": "x", "markersize": 6},
    "fakeredis": {"linestyle": ":", "marker": "x", "markersize": 6},
}


def variant_colour(name: str) -> str:
    """One colour per protocol variant, the same in every figure (registry order)."""
    from trustchain_lab.protocol import variant_names

    return f"C{variant_names().index(name) % 10}"


def save_figure(fig, ctx: Context, name: str) -> str:
    """Save ``fig`` as ``name`` in the run folder, close it, return the file name."""
    import matplotlib.pyplot as plt

    fig.tight_layout(rect=(0, 0.07 if fig.legends else 0, 1, 1))  # a figure legend: at the foot
    fig.savefig(ctx.path(name), dpi=110)
    plt.close(fig)
    return name
