"""Network namespaces for placement ``"hosts"``: each worker process on its own "host".

``HostNetwork(n)`` makes a bridge in this (the root) namespace with the first address of a
free private /24, and ``n`` namespaces, each joined to the bridge by a veth pair (``eth0``
inside, its own address) with its loopback up. Processes started with ``launcher(k)``
(``ip netns exec NS``) reach the root namespace, where Redis and the run's proxy listen, at
``bridge_ip`` over a real kernel network path. Everything is removed on exit, on errors
and on Ctrl-C. Needs root and ``ip`` (Debian: iproute2). ``throwaway_namespace`` is a
single namespace for a one-off probe (e.g. whether ``tc netem`` works here).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import secrets
import shutil
import subprocess
from collections.abc import Iterator

COMMAND_TIMEOUT = 10.0  # seconds for one `ip` (or `tc`) command
PREFIX = "tclab-"  # every namespace this module makes starts with it
LINK_PREFIXES = ("tcb", "tcv")  # bridge and root-side veth names
MAX_HOSTS = 250  # addresses .2 … .251 of the /24


class NamespaceError(RuntimeError):
    """Network namespaces cannot be made here (not root, no ``ip``, a failed command)."""


def check_namespaces() -> None:
    """Raise ``NamespaceError`` (one line) unless this process can make namespaces."""
    if os.geteuid() != 0:
        raise NamespaceError(
            f"placement='hosts' needs root to make network namespaces (running as uid "
            f"{os.geteuid()}); use placement='processes'"
        )
    if shutil.which("ip") is None:
        raise NamespaceError("placement='hosts' needs `ip` (Debian: apt-get install iproute2)")


def run_command(argv: list[str]) -> tuple[int, str]:
    """Exit status and the first line of stderr (or stdout) of a bounded command."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        return 124, f"{argv[0]} did not finish within {COMMAND_TIMEOUT} s"
    except OSError as exc:
        return 127, str(exc)
    text = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[0]
    return done.returncode, text


def _ip(*args: str) -> None:
    status, why = run_command(["ip", *args])
    if status != 0:
        raise NamespaceError(f"`ip {' '.join(args)}` failed: {why}")


@contextlib.contextmanager
def throwaway_namespace(prefix: str = PREFIX) -> Iterator[str]:
    """A new network namespace (its name), deleted on exit, on errors and on Ctrl-C."""
    name = f"{prefix}{secrets.token_hex(4)}"
    try:
        status, text = run_command(["ip", "netns", "add", name])
        if status != 0:
            raise RuntimeError(f"cannot create a network namespace: {text}")
        yield name
    finally:
        run_command(["ip", "netns", "delete", name])  # a name never made fails harmlessly


def _used_networks() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(
        ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    ).stdout
    nets = []
    for line in out.splitlines():
        fields = line.split()
        if "inet" in fields:
            nets.append(ipaddress.ip_interface(fields[fields.index("inet") + 1]).network)
    return nets


def _free_subnet() -> ipaddress.IPv4Network:
    used = _used_networks()
    rng = random.Random()
    for _ in range(200):
        net = ipaddress.ip_network(f"10.{rng.randint(200, 254)}.{rng.randint(0, 255)}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise NamespaceError("no free 10.200-254.x.0/24 subnet for the run's bridge")


def leftovers() -> list[str]:
    """Namespaces and links this module made that still exist (none, after any run)."""
    names = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    ).stdout.split()
    links = subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    ).stdout.splitlines()
    devs = [line.split(":")[1].strip().split("@")[0] for line in links if ":" in line]
    return [n for n in names if n.startswith(PREFIX)] + [
        d for d in devs if d.startswith(LINK_PREFIXES) and len(d) > 3 and d[3:9].isalnum()
    ]


class HostNetwork:
    """``hosts`` network namespaces on a bridge; ``with HostNetwork(4) as net: ...``."""

    def __init__(self, hosts: int) -> None:
        if not 1 <= hosts <= MAX_HOSTS:
            raise ValueError(f"hosts must be between 1 and {MAX_HOSTS}, got {hosts}")
        check_namespaces()
        self.hosts = hosts
        self.tag = secrets.token_hex(3)
        self.bridge = f"tcb{self.tag}"
        self.namespaces = [f"{PREFIX}{self.tag}-{k}" for k in range(hosts)]
        self.subnet: ipaddress.IPv4Network | None = None
        self._made: list[str] = []  # namespaces made so far, for the clean-up

    @property
    def bridge_ip(self) -> str:
        """The root namespace's address on the bridge: where the hosts reach Redis."""
        if self.subnet is None:
            raise NamespaceError("the host network is not up")
        return str(self.subnet.network_address + 1)

    def host_ip(self, k: int) -> str:
        assert self.subnet is not None
        return str(self.subnet.network_address + 2 + k)

    def launcher(self, k: int) -> list[str]:
        """The command prefix that runs a program on host ``k``."""
        return ["ip", "netns", "exec", self.namespaces[k]]

    def __enter__(self) -> HostNetwork:
        try:
            self.subnet = _free_subnet()
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.bridge_ip}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for k, ns in enumerate(self.namespaces):
                self._join(k, ns)
        except BaseException:
            self.close()
            raise
        return self

    def _join(self, k: int, ns: str) -> None:
        outside, inside = f"tcv{self.tag}{k}", f"tcp{self.tag}{k}"
        _ip("netns", "add", ns)
        self._made.append(ns)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside, "netns", ns)
        _ip("link", "set", outside, "master", self.bridge, "up")
        _ip("-n", ns, "link", "set", inside, "name", "eth0")
        _ip("-n", ns, "addr", "add", f"{self.host_ip(k)}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")

    def close(self) -> None:
        """Delete every veth pair, namespace and the bridge; idempotent. The veths go
        first: a namespace's deletion would remove them, but only some time later."""
        for k, ns in enumerate(self._made):  # run_command never raises: all are tried
            run_command(["ip", "link", "delete", f"tcv{self.tag}{k}"])
            run_command(["ip", "netns", "delete", ns])
        self._made = []
        run_command(["ip", "link", "delete", self.bridge])

    def __exit__(self, *exc_info: object) -> None:
        self.close()
