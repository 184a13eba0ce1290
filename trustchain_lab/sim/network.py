"""The delay parameters of the SimPy model."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Network:
    """What decides races and latency besides the scenario's own draws (all in seconds).

    - ``one_way``: client to server, or server to client;
    - ``service``: Redis server time per command (one FIFO queue for all clients);
    - ``per_subscriber``: extra server time for each subscriber a PUBLISH reaches;
    - ``client_cost``: client CPU per operation (sending a command, handling a message,
      reading a claim-list reply, a worker deciding when its claim-delay timer fires);
    - ``shared_client_cpu``: every actor shares one CPU, as the lab's in-process real runs
      do (one Python process, one event loop); False gives each service its own CPU
      (workers in their own processes);
    - ``wake``: extra client CPU of an operation that finds its CPU idle (an event loop
      waiting for its sockets wakes: a system call, the loop's iteration, a context switch);
      operations queued behind others do not pay it;
    - ``cores``: with ``shared_client_cpu=False``, how many CPU cores those processes
      share (each still runs one operation at a time); 0: as many as there are actors.

    Defaults are close to a loopback Redis on a small machine; ``calibrate`` measures yours.
    """

    one_way: float = 40e-6
    service: float = 3e-6
    per_subscriber: float = 2e-6
    client_cost: float = 30e-6
    shared_client_cpu: bool = True
    cores: int = 0
    wake: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "shared_client_cpu":
                if not isinstance(v, bool):
                    raise ValueError(f"shared_client_cpu must be a bool, got {v!r}")
            elif f.name == "cores":
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise ValueError(f"Network.cores must be an int >= 0, got {v!r}")
            elif not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ValueError(f"Network.{f.name} must be a finite number >= 0, got {v!r}")

        if self.shared_client_cpu and self.cores:
            raise ValueError("Network.cores is for shared_client_cpu=False (one CPU per actor)")

    @classmethod
    def zero(cls) -> Network:
        """No infrastructure at all: what the closed forms assume."""
        return cls(0.0, 0.0, 0.0, 0.0, shared_client_cpu=False)

    def with_link(self, link: Any, proxy_one_way: float = 0.0) -> Network:
        """This network with every hop crossing ``link`` (a ``trustchain_lab.Link``): its
        one-way delay, plus ``proxy_one_way`` (the delaying proxy's own cost per hop, which
        ``calibrate(..., link=...)`` measures). The model has no per-message jitter: a link
        with jitter is refused rather than modelled as its mean."""
        if link.jitter:
            raise ValueError(
                f"the model cannot reproduce a link's jitter ({link.jitter} s): use a Link "
                "without jitter to compare sim and real"
            )
        return replace(self, one_way=self.one_way + link.delay + proxy_one_way)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
