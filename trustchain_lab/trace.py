"""The trace of a run: its events, the outcome classifier, per-request rows and a summary.

Every backend records the same step kinds (``protocol.Kind``) into a ``Recorder``;
``classify`` turns the events table alone into the requests table, so the outcome rules
(``protocol.Outcome``) are written once for all backends and all variants.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .protocol import Kind, Outcome, Reason
from .stats import quantile_intervals, wilson_interval
from .steps import EVENT_COLUMNS, StepLog

OUTCOMES = tuple(str(o) for o in Outcome)
QUANTILES = (50, 95, 99)  # the latency percentiles of a summary
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
    "partials",  # replies taken into the answer (declines of ack/known included)
    "refused",
    "late_partials",
    "wasted_work",
)
FORMAT_VERSION = 2  # 2: outcome 'excluded', column 'refused'


class Recorder(StepLog):
    """A ``StepLog`` that builds the events table once."""

    def events(self) -> pd.DataFrame:
        return events_frame(self.as_dict())


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


def _codes(col: pd.Series, names: pd.Index) -> np.ndarray:
    """Codes of a categorical column in the category list ``names`` (-1 where missing)."""
    return col.cat.set_categories(names).cat.codes.to_numpy().astype(np.int32)


def _first(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each distinct key, the value at its first occurrence."""
    uniq, first = np.unique(keys, return_index=True)
    return uniq, values[first]


def classify(events: pd.DataFrame) -> pd.DataFrame:
    """One row per dispatched request, with its outcome decided from the events alone.

    A worker is *interested* when it has an ``interest`` event with value 1 (whenever it
    happened); it is *missing* when it is interested and no ``partial_received`` of it is
    in the answer. In this order:

    - ``timeout``: no final, or the final came from the deadline;
    - ``failed``: the answer said it could not be trusted (``lost_claims``,
      ``missed_broadcast``);
    - ``empty``: nobody interested; ``complete``: somebody, and nobody missing;
    - ``excluded``: every missing worker's claim was refused (``claim_refused``);
    - ``probe_miss``: answered empty at the probe although somebody was interested;
    - ``premature``: answered while a missing worker's partial was still to come.

    Works on integer codes throughout, so millions of events classify in seconds.
    """
    rid = events["request_id"].cat.codes.to_numpy().astype(np.int32)
    n = len(events["request_id"].cat.categories)
    names = events["actor"].cat.categories.union(events["note"].cat.categories)
    actor = _codes(events["actor"], names)
    note = _codes(events["note"], names)
    t = events["t"].to_numpy()
    value = events["value"].to_numpy()
    kind = events["kind"]

    def rows(k: Kind) -> np.ndarray:
        return (kind == k).to_numpy()

    def per_request(mask: np.ndarray, v: np.ndarray, fill: float = np.nan) -> np.ndarray:
        out = np.full(n, fill)
        keys, first = _first(rid[mask], v[mask])
        out[keys] = first
        return out

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(rid[mask], minlength=n)

    dispatch = rows(Kind.DISPATCH)
    order = rid[dispatch]  # requests in dispatch order
    final = rows(Kind.FINAL)
    final_reason = np.full(n, None, dtype=object)
    keys, first = _first(rid[final], events["note"][final].to_numpy(dtype=object))
    final_reason[keys] = first
    t_final = per_request(final, t)

    interest = rows(Kind.INTEREST) & (value == 1)
    width = len(names) + 1

    def pairs(mask: np.ndarray, who: np.ndarray) -> np.ndarray:
        """(request, worker) of the rows in ``mask`` as one integer (only those rows: a
        column of all 13 million rows of a large run would cost 100 MB at a time)."""
        return rid[mask].astype(np.int64) * width + who[mask]

    received = rows(Kind.PARTIAL_RECEIVED)
    included = pairs(received, note)
    refused = rows(Kind.CLAIM_REFUSED)
    interested_pairs, interested_rid = pairs(interest, actor), rid[interest]
    absent = ~np.isin(interested_pairs, included)
    missing = np.bincount(interested_rid[absent], minlength=n)
    was_refused = np.isin(interested_pairs, pairs(refused, actor))
    missing_refused = np.bincount(interested_rid[absent & was_refused], minlength=n)

    starts = rows(Kind.WORK_START)
    ends = rows(Kind.WORK_END) | rows(Kind.CRASH)
    start_keys, start_t = _first(pairs(starts, actor), t[starts])
    end_keys, end_t = _first(pairs(ends, actor), t[ends])
    duration = np.zeros(len(start_keys))
    if len(end_keys):
        pos = np.minimum(np.searchsorted(end_keys, start_keys), len(end_keys) - 1)
        ended = end_keys[pos] == start_keys
        duration[ended] = end_t[pos[ended]] - start_t[ended]
    thrown = ~np.isin(start_keys, included)
    wasted = np.bincount(start_keys[thrown] // width, weights=duration[thrown], minlength=n)

    reason = final_reason[order]
    interested = count(interest)[order]
    missing, missing_refused = missing[order], missing_refused[order]
    outcome = np.select(
        [
            pd.isna(reason) | (reason == Reason.DEADLINE),
            (reason == Reason.LOST_CLAIMS) | (reason == Reason.MISSED_BROADCAST),
            (missing == 0) & (interested == 0),
            missing == 0,
            missing == missing_refused,
            reason == Reason.PROBE_EMPTY,
        ],
        [
            Outcome.TIMEOUT,
            Outcome.FAILED,
            Outcome.EMPTY,
            Outcome.COMPLETE,
            Outcome.EXCLUDED,
            Outcome.PROBE_MISS,
        ],
        default=Outcome.PREMATURE,
    ).astype(str)
    t_dispatch = t[dispatch]
    req = pd.DataFrame(
        {
            "request_id": events["request_id"].cat.categories[order],
            "parent": events["note"][dispatch].to_numpy(dtype=object),
            "task": events["task"][dispatch].to_numpy(dtype=object),
            "t_dispatch": t_dispatch,
            "t_final": t_final[order],
            "latency": t_final[order] - t_dispatch,
            "reason": reason,
            "outcome": outcome,
            "interested": interested,
            "claims_at_probe": per_request(rows(Kind.PROBE), value)[order],
            "partials": np.nan_to_num(per_request(final, value)[order]).astype(int),
            "refused": count(refused)[order],
            "late_partials": count(rows(Kind.PARTIAL_LATE))[order],
            "wasted_work": wasted[order],
        }
    )
    req["index"] = _request_index(req)
    return _typed(req[list(REQUEST_COLUMNS)])


def _request_index(req: pd.DataFrame) -> np.ndarray:
    """Number top-level requests 0, 1, … by dispatch time; subtasks take their root's number.

    Rows are in dispatch order, and a subtask is dispatched after its parent, so one pass
    suffices.
    """
    index: dict[str, int] = {}
    out = np.empty(len(req), dtype=int)
    top = 0
    for k, (rid, parent) in enumerate(zip(req["request_id"], req["parent"], strict=True)):
        if isinstance(parent, str):
            out[k] = index.get(parent, -1)
        else:
            out[k] = top
            top += 1
        index[rid] = out[k]
    return out


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
            "refused": int,
            "late_partials": int,
            "wasted_work": float,
        }
    )
    req["outcome"] = pd.Categorical(req["outcome"], categories=OUTCOMES)
    return req


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
    """The summary of any set of request rows (``RunResult.summary`` of a subset).

    Latency quantiles in seconds, each with its 95 % interval (``latency_p50_s_lo`` / ``_hi``:
    ``stats.quantile_intervals`` over the requests in dispatch order); every outcome rate with
    its 95 % Wilson interval (``<outcome>_rate_lo`` / ``_hi``). The Series has dtype
    ``object`` so that the request count prints as an integer; ``.astype(float)`` gives one
    numpy ufuncs take."""
    if "t_dispatch" in requests:
        requests = requests.sort_values("t_dispatch", kind="stable")
    lat = requests["latency"].dropna().to_numpy()
    n = len(requests)
    out: dict[str, float] = {"requests": int(n)}
    intervals = quantile_intervals(lat, [q / 100 for q in QUANTILES])
    for q in QUANTILES:
        out[f"latency_p{q}_s"] = float(np.percentile(lat, q)) if len(lat) else np.nan
        out[f"latency_p{q}_s_lo"], out[f"latency_p{q}_s_hi"] = intervals[q / 100]
    counts = requests["outcome"].value_counts()
    for o in OUTCOMES:
        k = counts.get(o, 0)
        out[f"{o}_rate"] = k / n if n else np.nan
        out[f"{o}_rate_lo"], out[f"{o}_rate_hi"] = wilson_interval(k, n)
    return pd.Series(out, dtype=object)  # counts print as integers, rates as floats
