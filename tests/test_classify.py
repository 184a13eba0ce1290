"""The outcome classifier on hand-built event tables, one per outcome."""

import math
import re

import pandas as pd
import pytest

from trustchain_lab import classify
from trustchain_lab.trace import Recorder, summarize


def trace(*rows) -> pd.DataFrame:
    rec = Recorder(clock=lambda: 0.0)
    for t, rid, actor, kind, *rest in rows:
        rec.add(t, rid, "Foo", actor, kind, *rest)
    return rec.events()


def one(events: pd.DataFrame) -> pd.Series:
    req = classify(events)
    assert len(req) == 1
    return req.iloc[0]


def worker(rid, name, t_claim, t_end, t_sent):
    return [
        (t_claim - 0.001, rid, name, "interest", 1.0),
        (t_claim, rid, name, "claim"),
        (t_claim, rid, name, "work_start"),
        (t_end, rid, name, "work_end"),
        (t_sent, rid, name, "partial_sent"),
    ]


def test_complete():
    ev = trace(
        (0.0, "r", "gw", "dispatch"),
        *worker("r", "a", 0.01, 0.05, 0.051),
        *worker("r", "b", 0.01, 0.08, 0.081),
        (0.052, "r", "gw", "partial_received", None, "a"),
        (0.053, "r", "gw", "pop", 1),
        (0.082, "r", "gw", "partial_received", None, "b"),
        (0.083, "r", "gw", "pop", 0),
        (0.083, "r", "gw", "final", 2, "claims_drained"),
    )
    row = one(ev)
    assert (row.outcome, row.partials, row.interested, row.late_partials) == ("complete", 2, 2, 0)
    assert row.latency == pytest.approx(0.083)
    assert row.wasted_work == 0


def test_premature_counts_the_left_out_workers_work_as_wasted():
    ev = trace(
        (0.0, "r", "gw", "dispatch"),
        *worker("r", "a", 0.01, 0.02, 0.021),
        (0.022, "r", "gw", "partial_received", None, "a"),
        (0.023, "r", "gw", "pop", 0),
        (0.023, "r", "gw", "final", 1, "claims_drained"),
        *worker("r", "b", 0.05, 0.09, 0.091),
        (0.092, "r", "gw", "partial_late", None, "b"),
    )
    row = one(ev)
    assert (row.outcome, row.partials, row.interested, row.late_partials) == ("premature", 1, 2, 1)
    assert row.wasted_work == pytest.approx(0.04)


def test_empty_and_probe_miss():
    empty = trace(
        (0.0, "r", "gw", "dispatch"),
        (0.001, "r", "a", "interest", 0.0),
        (0.5, "r", "gw", "probe", 0),
        (0.5, "r", "gw", "final", 0, "probe_empty"),
    )
    row = one(empty)
    assert (row.outcome, row.claims_at_probe, row.interested) == ("empty", 0, 0)
    missed = trace(
        (0.0, "r", "gw", "dispatch"),
        (0.5, "r", "gw", "probe", 0),
        (0.5, "r", "gw", "final", 0, "probe_empty"),
        *worker("r", "a", 0.6, 0.7, 0.7),
        (0.7, "r", "gw", "partial_late", None, "a"),
    )
    row = one(missed)
    assert (row.outcome, row.interested, row.late_partials) == ("probe_miss", 1, 1)
    assert row.wasted_work == pytest.approx(0.1)


def test_timeout_by_deadline_or_no_final():
    crashed = trace(
        (0.0, "r", "gw", "dispatch"),
        (0.01, "r", "a", "interest", 1.0),
        (0.01, "r", "a", "claim"),
        (0.01, "r", "a", "work_start"),
        (0.02, "r", "a", "crash"),
        (0.5, "r", "gw", "probe", 1),
        (1.0, "r", "gw", "final", 0, "deadline"),
    )
    row = one(crashed)
    assert row.outcome == "timeout" and row.wasted_work == pytest.approx(0.01)
    assert one(trace((0.0, "r", "gw", "dispatch"))).outcome == "timeout"


def test_subtasks_take_their_root_request_index_and_stay_out_of_the_summary():
    ev = trace(
        (0.0, "r0", "gw", "dispatch"),
        (0.1, "r1", "gw", "dispatch"),
        (0.2, "s1", "w", "dispatch", None, "r1"),
        (0.3, "s1", "w", "final", 0, "probe_empty"),
        (0.3, "r0", "gw", "final", 0, "probe_empty"),
        (0.4, "r1", "gw", "final", 0, "probe_empty"),
    )
    req = classify(ev).set_index("request_id")
    assert req.loc[["r0", "r1", "s1"], "index"].tolist() == [0, 1, 1]
    top = req[req["parent"].isna()]
    s = summarize(top)
    assert s["requests"] == 2 and s["empty_rate"] == 1.0
    assert s["latency_p50_s"] == pytest.approx(0.3)


def test_rates_carry_their_wilson_interval():
    from trustchain_lab.stats import wilson_interval

    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(0, 3000)[0] == 0.0 and wilson_interval(3000, 3000)[1] == 1.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def refused(rid, name, t):
    return [(t - 0.001, rid, name, "interest", 1.0), (t, rid, name, "claim_refused")]


def test_a_late_claimer_refused_in_time_is_excluded_with_no_work_wasted():
    ev = trace(
        (0.0, "r", "gw", "dispatch"),
        *worker("r", "a", 0.01, 0.02, 0.021),
        (0.022, "r", "gw", "partial_received", None, "a"),
        (0.023, "r", "gw", "pop", 0),
        (0.023, "r", "gw", "final", 1, "claims_drained"),
        *refused("r", "b", 0.05),
    )
    row = one(ev)
    assert (row.outcome, row.refused, row.wasted_work) == ("excluded", 1, 0)


def test_one_refused_and_one_silently_missing_is_premature():
    ev = trace(
        (0.0, "r", "gw", "dispatch"),
        *worker("r", "a", 0.01, 0.02, 0.021),
        (0.022, "r", "gw", "partial_received", None, "a"),
        (0.023, "r", "gw", "pop", 0),
        (0.023, "r", "gw", "final", 1, "claims_drained"),
        *refused("r", "b", 0.05),
        *worker("r", "c", 0.06, 0.07, 0.071),  # its claim got through: its work is lost
    )
    assert one(ev).outcome == "premature"


def test_lost_claims_is_a_failure_whatever_came_in():
    ev = trace(
        (0.0, "r", "gw", "dispatch"),
        *worker("r", "a", 0.01, 0.02, 0.021),
        (0.022, "r", "gw", "partial_received", None, "a"),
        (0.023, "r", "gw", "pop", -1),
        (0.023, "r", "gw", "final", 1, "lost_claims"),
    )
    assert one(ev).outcome == "failed"


def test_latency_quantiles_carry_a_distribution_free_interval():
    import numpy as np

    from trustchain_lab.stats import quantile_interval

    x = np.arange(1.0, 1001.0)  # 1 … 1000
    lo, hi = quantile_interval(x, 0.5)
    assert (lo, hi) == (469.0, 531.0)  # ranks 500 -/+ 30.99 (1.96 * sqrt(250)), outwards
    assert np.isnan(quantile_interval(x[:100], 0.99)[1])  # 100 values can't bound p99 above
    assert all(np.isnan(v) for v in quantile_interval(np.array([]), 0.5))
    s = summarize(pd.DataFrame({"latency": x / 1000, "outcome": ["complete"] * 1000}))
    assert s["latency_p50_s_lo"] <= s["latency_p50_s"] <= s["latency_p50_s_hi"]


def test_the_summary_states_units_and_counts_as_integers():
    top = pd.DataFrame({"latency": [0.1, 0.2, 0.3], "outcome": ["complete"] * 3})
    s = summarize(top)
    assert s["requests"] == 3 and isinstance(s["requests"], int)
    assert re.match(r"requests\s+3\n", str(s))  # not "3.000000"
    assert {"latency_p50_s", "latency_p50_s_lo", "latency_p50_s_hi"} <= set(s.index)
    assert not any(k.startswith("latency_") and "_s" not in k for k in s.index)
