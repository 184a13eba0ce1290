"""Signed messages: HMAC-SHA256 over a timestamp and the exact bytes of the message.

A signed message is ``<signature hex>.<unix time in ms>.<JSON body>``. The body names the sender
(a partial's ``worker``, a task's ``reply_to``) and the request id, so a signature cannot be
moved to another sender or request; the timestamp bounds replays to ``window`` seconds.
Endpoints that share a secret accept only messages signed with it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections import OrderedDict

from .messages import MessageError

SIGNATURE_HEX = 64  # hex digits of an HMAC-SHA256
REPLAY_WINDOW = 30.0  # seconds a signed message stays acceptable (clocks must agree this well)
SEEN_LIMIT = 100_000  # request ids a worker remembers, to refuse a replayed task


class SignatureError(MessageError):
    """A message that is not signed with our secret, or signed too long ago."""


class Signer:
    """Signs outgoing messages and checks incoming ones with one shared ``secret``."""

    def __init__(self, secret: str | bytes, window: float = REPLAY_WINDOW) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        if not isinstance(key, bytes) or len(key) < 16:
            raise ValueError("secret must be a str or bytes of at least 16 bytes")
        if not (math.isfinite(window) and window > 0):
            raise ValueError(f"window must be a finite number of seconds > 0, got {window!r}")
        self._key = key
        self.window = window

    def _mac(self, stamp: bytes, body: bytes) -> bytes:
        return hmac.new(self._key, stamp + b"." + body, hashlib.sha256).hexdigest().encode()

    def sign(self, body: bytes, now: float | None = None) -> bytes:
        """``body`` with its signature and timestamp in front."""
        stamp = b"%d" % round(1000 * (time.time() if now is None else now))
        return self._mac(stamp, body) + b"." + stamp + b"." + body

    def verify(self, data: bytes | str, now: float | None = None) -> bytes:
        """The body of a message signed with our secret within the window; else
        ``SignatureError``."""
        raw = data.encode() if isinstance(data, str) else data
        signature, _, rest = raw.partition(b".")
        stamp, _, body = rest.partition(b".")
        if len(signature) != SIGNATURE_HEX or not body:
            raise SignatureError("not signed")
        if not hmac.compare_digest(signature, self._mac(stamp, body)):
            raise SignatureError("bad signature")
        if not stamp.isdigit():
            raise SignatureError("bad timestamp")
        sent = int(stamp) / 1000
        age = (time.time() if now is None else now) - sent
        if not abs(age) <= self.window:  # also refuses NaN
            raise SignatureError(f"signed {age:.1f} s ago, outside the {self.window:g} s window")
        return body


class SeenRequests:
    """Request ids seen lately (at most ``SEEN_LIMIT``): a task seen twice is a replay."""

    def __init__(self, limit: int = SEEN_LIMIT) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def first_time(self, request_id: str) -> bool:
        if request_id in self._seen:
            return False
        self._seen[request_id] = None
        if len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return True
