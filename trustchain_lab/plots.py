"""Pictures of a run: one request as a Mermaid sequence diagram or as a swim-lane figure."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from .trace import RunResult

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
    dispatchers = list(dict.fromkeys(ev.loc[ev["kind"] == "dispatch", "actor"].astype(str)))
    workers = [a for a in dict.fromkeys(ev["actor"].astype(str)) if a not in dispatchers]
    workers += [d for d in dispatchers[1:] if d not in workers]
    lines = ["sequenceDiagram", "  autonumber", f"  actor C as {_CLIENT}"]
    lines += [f"  participant {_alias(d)} as {d}" for d in dispatchers[:1]]
    lines += [f"  participant R as {_REDIS}", f"  participant M as {_BUS}"]
    lines += [f"  participant {_alias(w)} as {w}" for w in workers]
    for row in ev.itertuples(index=False):
        a, k, ms = _alias(str(row.actor)), str(row.kind), f"{row.t * 1000:.1f} ms"
        top = str(row.request_id) == root
        if k == "dispatch":
            if top:
                lines.append(f"  C->>+{a}: Blocking request")
            lines.append(f"  {a}->>M: Publish {row.task} ({ms})")
        elif k == "deliver":
            lines.append(f"  M-->>{a}: {row.task}")
        elif k == "interest" and row.value == 0:
            lines.append(f"  Note over {a}: not interested in {row.task}")
        elif k == "claim":
            lines.append(f"  {a}->>R: Interested & push to the list ({ms})")
        elif k == "crash":
            lines.append(f"  Note over {a}: crashed after claiming")
        elif k == "partial_sent":
            lines.append(f"  {a}->>M: Finished job ({ms})")
        elif k == "partial_received":
            lines.append(f"  M->>{a}: Reply received from {row.note}")
        elif k == "partial_late":
            lines.append(f"  M->>{a}: Late reply from {row.note} (dropped)")
        elif k == "pop":
            lines.append(f"  {a}->>R: Pops from the list ({int(row.value)} left)")
        elif k == "probe":
            lines.append(f"  {a}->>R: Probe: length {int(row.value)} ({ms})")
        elif k == "final" and top:
            lines.append(f"  {a}->>-C: Send response: {row.note}, {int(row.value)} partials ({ms})")
        elif k == "final":
            lines.append(f"  Note over {a}: {row.task} final: {row.note}")
    return "\n".join(lines) + "\n"


_STYLE = {  # kind -> (marker, colour, label)
    "dispatch": (">", "tab:blue", "dispatch"),
    "deliver": (".", "tab:gray", "deliver"),
    "claim": ("s", "tab:green", "claim pushed"),
    "partial_sent": ("^", "tab:orange", "partial sent"),
    "partial_received": ("v", "tab:orange", "partial received"),
    "partial_late": ("x", "tab:red", "late partial"),
    "pop": ("o", "tab:purple", "pop"),
    "probe": ("D", "tab:cyan", "probe"),
    "final": ("*", "black", "final"),
    "crash": ("X", "tab:red", "crash"),
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
    starts = ev[kinds == "work_start"]
    for row in starts.itertuples(index=False):
        same = (actor == str(row.actor)) & (ev["request_id"] == row.request_id)
        end = ev[same & kinds.isin(["work_end", "crash"])]
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
