"""Pictures of a run: one request as a Mermaid sequence diagram or as a swim-lane figure."""

from __future__ import annotations

from typing import Protocol

import pandas as pd

from .protocol import Kind


class RunResult(Protocol):
    """What the pictures read of a ``trace.RunResult`` (no import: trace uses this module)."""

    events: pd.DataFrame
    requests: pd.DataFrame

    def top_level(self) -> pd.DataFrame: ...


_BUS, _REDIS, _CLIENT = "Message BUS", "Redis", "Client"


def request_events(result: RunResult, request_id: str | None = None) -> pd.DataFrame:
    """Events of one request and of every subtask it caused, in time order."""
    req = result.requests
    if request_id is None:
        top = result.top_level()
        if top.empty:
            raise ValueError("the run holds no request")
        request_id = str(top["request_id"].iloc[0])
    if request_id not in set(req["request_id"]):
        raise ValueError(f"no request {request_id!r} in this run")
    family = {request_id}
    parents = req.set_index("request_id")["parent"]
    for _ in range(64):  # bounded: nesting depth is small
        children = set(parents[parents.isin(family)].index) - family
        if not children:
            break
        family |= children
    ev = result.events
    return ev[ev["request_id"].astype(str).isin(family)].sort_values("t", kind="stable")


def _alias(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)


def to_mermaid(result: RunResult, request_id: str | None = None) -> str:
    """One request as a Mermaid ``sequenceDiagram`` in the style of the seed's diagram."""
    ev = request_events(result, request_id)
    root = ev["request_id"].astype(str).iloc[0]
    dispatchers = list(dict.fromkeys(ev.loc[ev["kind"] == Kind.DISPATCH, "actor"].astype(str)))
    workers = [a for a in dict.fromkeys(ev["actor"].astype(str)) if a not in dispatchers]
    workers += [d for d in dispatchers[1:] if d not in workers]
    lines = ["sequenceDiagram", "  autonumber", f"  actor C as {_CLIENT}"]
    lines += [f"  participant {_alias(d)} as {d}" for d in dispatchers[:1]]
    lines += [f"  participant R as {_REDIS}", f"  participant M as {_BUS}"]
    lines += [f"  participant {_alias(w)} as {w}" for w in workers]
    declined: set[tuple[str, str]] = set()  # (request, worker) that answered "not interested"
    for row in ev.itertuples(index=False):
        a, k, ms = _alias(str(row.actor)), str(row.kind), f"{row.t * 1000:.1f} ms"
        rid = str(row.request_id)
        top = rid == root
        if k == Kind.DISPATCH:
            if top:
                lines.append(f"  C->>+{a}: Blocking request")
            lines.append(f"  {a}->>M: Publish {row.task} ({ms})")
        elif k == Kind.DELIVER:
            lines.append(f"  M-->>{a}: {row.task}")
        elif k == Kind.INTEREST and row.value == 0:
            declined.add((rid, a))
            lines.append(f"  Note over {a}: not interested in {row.task}")
        elif k == Kind.CLAIM:
            lines.append(f"  {a}->>R: Interested & push to the list ({ms})")
        elif k == Kind.CLAIM_REFUSED:
            lines.append(f"  {a}->>R: Interested, claim refused: sealed ({ms})")
        elif k == Kind.CRASH:
            lines.append(f"  Note over {a}: crashed after claiming")
        elif k == Kind.PARTIAL_SENT and (rid, a) in declined:
            lines.append(f"  {a}->>M: Declined ({ms})")
        elif k == Kind.PARTIAL_SENT:
            lines.append(f"  {a}->>M: Finished job ({ms})")
        elif k == Kind.PARTIAL_RECEIVED:
            lines.append(f"  M->>{a}: Reply received from {row.note}")
        elif k == Kind.PARTIAL_LATE:
            lines.append(f"  M->>{a}: Late reply from {row.note} (dropped)")
        elif k == Kind.PARTIAL_DUPLICATE:
            lines.append(f"  M->>{a}: Duplicate reply from {row.note} (dropped)")
        elif k == Kind.POP:
            lines.append(f"  {a}->>R: Pops from the list ({int(row.value)} left)")
        elif k == Kind.PROBE:
            lines.append(f"  {a}->>R: Probe: length {int(row.value)} ({ms})")
        elif k == Kind.RECHECK:
            lines.append(f"  {a}->>R: Grace over, look again: length {int(row.value)} ({ms})")
        elif k == Kind.FINAL and top:
            lines.append(f"  {a}->>-C: Send response: {row.note}, {int(row.value)} replies ({ms})")
        elif k == Kind.FINAL:
            lines.append(f"  Note over {a}: {row.task} final: {row.note}")
    return "\n".join(lines) + "\n"


_STYLE = {  # kind -> (marker, colour, label)
    Kind.DISPATCH: (">", "tab:blue", "dispatch"),
    Kind.DELIVER: (".", "tab:gray", "deliver"),
    Kind.CLAIM: ("s", "tab:green", "claim pushed"),
    Kind.CLAIM_REFUSED: ("P", "tab:red", "claim refused (sealed)"),
    Kind.PARTIAL_SENT: ("^", "tab:orange", "partial sent"),
    Kind.PARTIAL_RECEIVED: ("v", "tab:orange", "partial received"),
    Kind.PARTIAL_LATE: ("x", "tab:red", "late partial"),
    Kind.PARTIAL_DUPLICATE: ("x", "tab:gray", "duplicate partial"),
    Kind.POP: ("o", "tab:purple", "pop"),
    Kind.PROBE: ("D", "tab:cyan", "probe"),
    Kind.RECHECK: ("d", "tab:cyan", "grace recheck"),
    Kind.FINAL: ("*", "black", "final"),
    Kind.CRASH: ("X", "tab:red", "crash"),
}


def plot_request(result: RunResult, request_id: str | None = None, ax=None):
    """A swim-lane figure of one request: one lane per actor, time in milliseconds."""
    import matplotlib.pyplot as plt

    ev = request_events(result, request_id)
    actors = list(dict.fromkeys(ev["actor"].astype(str)))
    lane = {a: i for i, a in enumerate(actors)}
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.6 * len(actors) + 1.5))
    ms = ev["t"] * 1000
    kinds = ev["kind"].astype(str)
    actor = ev["actor"].astype(str)
    starts = ev[kinds == Kind.WORK_START]
    for row in starts.itertuples(index=False):
        same = (actor == str(row.actor)) & (ev["request_id"] == row.request_id)
        end = ev[same & kinds.isin([Kind.WORK_END, Kind.CRASH])]
        t1 = end["t"].iloc[0] if len(end) else ev["t"].max()
        ax.plot(
            [row.t * 1000, t1 * 1000],
            [lane[str(row.actor)]] * 2,
            lw=6,
            alpha=0.3,
            color="tab:green",
            solid_capstyle="butt",
        )
    for kind, (marker, colour, label) in _STYLE.items():
        sel = kinds == kind
        if sel.any():
            ax.scatter(
                ms[sel],
                [lane[a] for a in actor[sel]],
                marker=marker,
                color=colour,
                label=label,
                zorder=3,
            )
    ax.set_yticks(range(len(actors)), actors)
    ax.invert_yaxis()
    ax.set_xlabel("time since run start (ms)")
    root = result.requests.set_index("request_id").loc[ev["request_id"].astype(str).iloc[0]]
    ax.set_title(
        f"request {root.name[:8]}… ({root['task']}): {root['outcome']}, "
        f"{root['latency'] * 1000:.1f} ms"
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    ax.figure.tight_layout()
    return ax
