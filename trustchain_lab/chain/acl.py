"""Redis ACL users per role: what a dispatcher and a worker may do, and nothing more.

``acl_rules(role, keys, name)`` gives the rules of ``ACL SETUSER <user> on ><password>
<rules...>`` for a user that runs one dispatcher (``name``) or workers, under ``keys``'
prefix. Scripts run with their caller's rights, so the commands inside our Lua scripts are
listed too. Redis ACLs cannot tell publishing from subscribing on a channel: a worker's
user may also publish on task channels, so sign messages (``secret=``) as well.
"""

from __future__ import annotations

from .keys import Keys

CONNECT = ("+hello", "+ping", "+subscribe", "+unsubscribe", "+publish")
SCRIPTS = ("+evalsha", "+eval", "+script|load")
INSIDE = {  # the commands our scripts call, by role
    "dispatcher": ("+set", "+exists", "+lrem", "+llen", "+del", "+lrange"),
    "worker": ("+exists", "+lpos", "+rpush", "+expire"),
}


def acl_rules(role: str, keys: Keys, name: str = "*") -> list[str]:
    """ACL rules for ``role`` ("dispatcher" or "worker"); ``name`` is the dispatcher's
    name (its reply channel), or ``*`` for every dispatcher."""
    if role not in INSIDE:
        raise ValueError(f"role must be 'dispatcher' or 'worker', got {role!r}")
    channels = [keys.task_channel("*")]
    channels.append(keys.reply_channel(name if role == "dispatcher" else "*"))
    key_patterns = [keys.claim_lists_pattern(), keys.markers_pattern()]
    return [
        "resetkeys",
        "resetchannels",
        "-@all",
        *CONNECT,
        *SCRIPTS,
        *INSIDE[role],
        *(f"~{k}" for k in key_patterns),
        *(f"&{c}" for c in channels),
    ]
