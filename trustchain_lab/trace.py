"""The trace of a run: its events, the outcome classifier, per-request rows and a summary.

Every backend records the same event kinds (``chain.Step`` kinds, plus ``crash`` from the
lab) into a ``Recorder``; ``classify`` turns the events table alone into the requests table,
so the outcome rules are written once for all backends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .chain.observe import Step

EVENT_COLUMNS = ("t", "request_id", "task", "actor", "kind", "value", "note")
OUTCOMES = ("complete", "empty", "probe_miss", "premature", "timeout")
REQUEST_COLUMNS = (
    "request_id",
    "parent",
    "index",
    "task",
    "t_dispatch",
    "t_final",
    "latency",
    "reason",
    "outcome",
    "interested",
    "claims_at_probe",
    "partials",
    "late_partials",
    "wasted_work",
)
FORMAT_VERSION = 1


class Recorder:
    """Collects events in flat lists (cheap to append) and builds the table once."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._cols: tuple[list[Any], ...] = tuple([] for _ in EVENT_COLUMNS)

    def add(
        self,
        t: float,
        request_id: str,
        task: str,
        actor: str,
        kind: str,
        value: float | None = None,
        note: str | None = None,
    ) -> None:
        for col, v in zip(self._cols, (t, request_id, task, actor, kind, value, note), strict=True):
            col.append(v)

    def observe(self, step: Step) -> None:
        """A ``chain`` observer: stamps ``step`` with this recorder's clock."""
        self.add(
            self.clock(), step.request_id, step.task, step.actor, step.kind, step.value, step.note
        )

    def events(self) -> pd.DataFrame:
        return events_frame(dict(zip(EVENT_COLUMNS, self._cols, strict=True)))


def events_frame(columns: dict[str, Any]) -> pd.DataFrame:
    """The events table from column arrays: time-ordered, with compact dtypes."""
    df = pd.DataFrame(
        {
            "t": np.asarray(columns["t"], dtype=float),
            "request_id": pd.Categorical(columns["request_id"]),
            "task": pd.Categorical(columns["task"]),
            "actor": pd.Categorical(columns["actor"]),
            "kind": pd.Categorical(columns["kind"]),
            "value": np.asarray([np.nan if v is None else v for v in columns["value"]], float)
            if not isinstance(columns["value"], np.ndarray)
            else columns["value"].astype(float),
            "note": pd.Categorical(columns["note"]),
        }
    )
    return df.sort_values("t", kind="stable", ignore_index=True)


def _pairs(df: pd.DataFrame, who: str) -> pd.MultiIndex:
    """(request id, worker name) of each row, with the worker taken from column ``who``."""
    return pd.MultiIndex.from_arrays(
        [df["request_id"].astype(str).to_numpy(), df[who].astype(str).to_numpy()]
    )


def classify(events: pd.DataFrame) -> pd.DataFrame:
    """One row per dispatched request, with its outcome decided from the events alone.

    - ``timeout``: no final, or the final came from the deadline;
    - ``empty`` / ``probe_miss``: answered empty at the probe, with nobody / somebody
      interested (an ``interest`` event with value 1, whenever it happened);
    - ``complete`` / ``premature``: answered with partials, all / not all of the interested
      workers' partials among them (``partial_received`` events are the included ones).
    """
    kind = events["kind"].astype(str)
    by_kind = {
        k: events[kind == k]
        for k in (
            "dispatch",
            "final",
            "probe",
            "interest",
            "partial_received",
            "partial_late",
            "work_start",
            "work_end",
            "crash",
        )
    }
    d = by_kind["dispatch"]
    req = pd.DataFrame(
        {
            "request_id": d["request_id"].astype(str).to_numpy(),
            "parent": d["note"].astype(object).to_numpy(),
            "task": d["task"].astype(str).to_numpy(),
            "t_dispatch": d["t"].to_numpy(),
        }
    ).set_index("request_id", drop=False)

    f = (
        by_kind["final"]
        .drop_duplicates("request_id")
        .set_index(by_kind["final"].drop_duplicates("request_id")["request_id"].astype(str))
    )
    req["t_final"] = f["t"].reindex(req.index)
    req["reason"] = f["note"].astype(object).reindex(req.index)
    req["partials"] = f["value"].reindex(req.index).fillna(0).astype(int)
    req["latency"] = req["t_final"] - req["t_dispatch"]
    p = by_kind["probe"].drop_duplicates("request_id")
    req["claims_at_probe"] = p.set_index(p["request_id"].astype(str))["value"].reindex(req.index)

    i = by_kind["interest"]
    i = i[i["value"] == 1]
    interested_keys = _pairs(i, "actor")
    req["interested"] = (
        i["request_id"].astype(str).value_counts().reindex(req.index).fillna(0).astype(int)
    )
    included = _pairs(by_kind["partial_received"], "note")
    missing = i[~interested_keys.isin(included)]
    n_missing = missing["request_id"].astype(str).value_counts().reindex(req.index).fillna(0)
    req["late_partials"] = (
        by_kind["partial_late"]["request_id"]
        .astype(str)
        .value_counts()
        .reindex(req.index)
        .fillna(0)
        .astype(int)
    )

    # wasted work: work by a worker whose partial was not included (late, lost, or crashed)
    starts = by_kind["work_start"]
    ends = pd.concat([by_kind["work_end"], by_kind["crash"]])
    start_t = pd.Series(starts["t"].to_numpy(), index=_pairs(starts, "actor"))
    end_t = pd.Series(ends["t"].to_numpy(), index=_pairs(ends, "actor"))
    start_t = start_t[~start_t.index.duplicated()]
    end_t = end_t[~end_t.index.duplicated()]
    wasted = (end_t.reindex(start_t.index) - start_t).fillna(0.0)
    wasted = wasted[~wasted.index.isin(included)]
    req["wasted_work"] = wasted.groupby(level=0).sum().reindex(req.index).fillna(0.0)

    reason = req["reason"]
    outcome = np.select(
        [
            reason.isna() | (reason == "deadline"),
            (reason == "probe_empty") & (req["interested"] == 0),
            reason == "probe_empty",
            n_missing == 0,
        ],
        ["timeout", "empty", "probe_miss", "complete"],
        default="premature",
    )
    req["outcome"] = pd.Categorical(outcome, categories=OUTCOMES)
    req["index"] = _request_index(req)
    return _typed(req.reset_index(drop=True)[list(REQUEST_COLUMNS)])


def _typed(req: pd.DataFrame) -> pd.DataFrame:
    """The requests table's dtypes, the same whether classified or loaded from disk."""
    req = req.astype(
        {
            "request_id": "str",
            "parent": "str",
            "task": "str",
            "reason": "str",
            "index": int,
            "interested": int,
            "partials": int,
            "late_partials": int,
        }
    )
    req["outcome"] = pd.Categorical(req["outcome"], categories=OUTCOMES)
    return req


def _request_index(req: pd.DataFrame) -> np.ndarray:
    """Number top-level requests 0, 1, … by dispatch time; subtasks take their root's number."""
    top = req["parent"].isna().to_numpy()
    index = pd.Series(np.nan, index=req.index)
    index[top] = np.arange(int(top.sum()))
    parent = req["parent"]
    for _ in range(64):  # nesting depth is small; each pass resolves one level
        todo = index.isna() & parent.notna()
        if not todo.any():
            break
        index[todo] = index.reindex(parent[todo]).to_numpy()
    return index.fillna(-1).astype(int).to_numpy()


@dataclass
class RunResult:
    """What one run of a ``Scenario`` produced, with the same schema for every backend."""

    backend: str
    scenario: Any  # trustchain_lab.Scenario (kept loose to avoid an import cycle)
    events: pd.DataFrame
    requests: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def top_level(self) -> pd.DataFrame:
        """The requests of the scenario itself, without nested subtasks."""
        return self.requests[self.requests["parent"].isna()]

    def summary(self) -> pd.Series:
        """Counts, latency quantiles (seconds) and outcome rates of the top-level requests."""
        return summarize(self.top_level())

    def to_mermaid(self, request_id: str | None = None) -> str:
        from .plots import to_mermaid

        return to_mermaid(self, request_id)

    def plot_request(self, request_id: str | None = None, ax=None):
        from .plots import plot_request

        return plot_request(self, request_id, ax=ax)

    def save(self, path: str | Path) -> Path:
        """Write a folder: ``meta.json`` (versions, backend, scenario), events and requests."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_VERSION,
            "backend": self.backend,
            "scenario": self.scenario.to_dict(),
            "meta": self.meta,
        }
        (out / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        self.events.to_csv(out / "events.csv.gz", index=False)
        self.requests.to_csv(out / "requests.csv.gz", index=False)
        return out

    @classmethod
    def load(cls, path: str | Path) -> RunResult:
        from .scenario import Scenario

        src = Path(path)
        meta_file = src / "meta.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{src} is not a saved RunResult (no meta.json)")
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{src}: format {meta.get('format')!r}, expected {FORMAT_VERSION}")
        raw = pd.read_csv(src / "events.csv.gz", keep_default_na=False, na_values=[""])
        events = events_frame(
            {
                c: raw[c].to_numpy()
                if c in ("t", "value")
                else raw[c].astype(object).where(raw[c].notna(), None).tolist()
                for c in EVENT_COLUMNS
            }
        )
        requests = _typed(pd.read_csv(src / "requests.csv.gz"))
        return cls(
            meta["backend"], Scenario.from_dict(meta["scenario"]), events, requests, meta["meta"]
        )


def summarize(requests: pd.DataFrame) -> pd.Series:
    """The summary of any set of request rows (``RunResult.summary`` of a subset)."""
    lat = requests["latency"].dropna()
    n = len(requests)
    out: dict[str, float] = {"requests": n}
    for q in (50, 95, 99):
        out[f"latency_p{q}"] = float(np.percentile(lat, q)) if len(lat) else np.nan
    counts = requests["outcome"].value_counts()
    for o in OUTCOMES:
        out[f"{o}_rate"] = counts.get(o, 0) / n if n else np.nan
    return pd.Series(out)
