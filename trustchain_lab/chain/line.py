"""One connection per endpoint, its commands pipelined: each command is written the moment
it is issued, and the replies are read back in order.

redis-py gives each concurrent command a pooled connection of its own (a checkout per
command), or, with one connection, makes each command wait for the reply to the one
before (a round trip per command in the queue). Here a command goes on the wire at once,
whatever is outstanding (no round trip waited for: what a slow link needs), and one reader
at a time reads the replies: a caller that finds the line idle reads itself (no task hop:
one request at a time costs what redis-py's direct call does), and what is left to read
when it has its reply is read by a task of the line. Replies are handed out in order; a
caller that gave up (cancelled) is skipped without disturbing the order. A broken
connection is reconnected (backing off) and the commands it left unanswered are sent
again, up to ``retries`` times, as redis-py's ``Retry`` does. When the server stops reading
(stalled), a new command waits while the bytes not yet taken by the socket exceed
``HIGH_WATER`` (until they drain, the connection is dropped, or its caller gives up) instead
of piling up in memory; commands queued over a reconnection go out as the socket takes
them. Waiters are not served in order: under sustained overload a late caller may pass an
early one (each is still bounded by its own deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

RETRIES = 3  # times a command is sent again after the connection broke
BACKOFF_FIRST, BACKOFF_MAX = 0.01, 0.5  # seconds between reconnection attempts: doubling
HIGH_WATER = 1 << 20  # bytes written but not yet taken by the socket: new commands wait

_BROKEN = (RedisConnectionError, RedisTimeoutError, OSError)


class _Command:
    __slots__ = ("args", "attempts", "future")

    def __init__(self, args: tuple[Any, ...], future: asyncio.Future[Any]) -> None:
        self.args = args
        self.future = future
        self.attempts = 0


class CommandLine:
    """Commands to Redis over one connection made from ``pool``'s settings (URL, TLS,
    credentials, database), pipelined. Bound to no event loop until first used."""

    def __init__(self, pool: ConnectionPool, retries: int = RETRIES) -> None:
        self._pool = pool
        self._retries = retries
        self._conn: Any = None
        self._queue: deque[_Command] = deque()  # not written yet: (re)connecting
        self._sent: deque[_Command] = deque()  # written, replies not read yet
        self._busy = False  # a caller or the line's task is reading (or connecting)
        self._pump: asyncio.Task[None] | None = None
        self._closed = False

    async def execute(self, *args: Any) -> Any:
        """Send one command; its reply (a Redis error reply raises ``ResponseError``; a
        connection that stays broken raises ``ConnectionError``)."""
        if self._closed:
            raise RedisConnectionError("the command line is closed")
        while self._backlog() > HIGH_WATER and not self._closed:  # never the reader here:
            await self._room()  # replies are outstanding. Released waiters all wake: recheck
        if self._closed:
            raise RedisConnectionError("the command line is closed")
        command = _Command(args, asyncio.get_running_loop().create_future())
        if self._queue or not self._connected():
            self._queue.append(command)  # whoever reads connects, then writes it
        else:
            self._write([command])  # on the wire now, behind what is outstanding
        if not self._busy:  # idle: this caller reads, until it has its reply
            self._busy = True
            try:
                await self._serve(until=command.future)
            except asyncio.CancelledError:
                command.future.cancel()  # not sent again for a caller who is gone
                raise
            finally:
                self._hand_off()
        return await command.future

    @property
    def busy(self) -> bool:
        """Whether commands are outstanding (written or queued, replies not all read)."""
        return self._busy

    async def disconnect(self) -> None:
        """Drop the connection (e.g. after Redis restarted); the next command reconnects.
        Replies not read yet are lost: their commands are sent again (``retries``)."""
        if self._conn is not None:
            self._abort()
            await self._conn.disconnect(nowait=True)

    async def close(self) -> None:
        """Stop; commands not answered yet fail with ``ConnectionError``."""
        self._closed = True
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
            self._pump = None
        self._fail_all(RedisConnectionError("the command line was closed"))
        if self._conn is not None:
            self._abort()
            await self._conn.disconnect(nowait=True)
            self._conn = None

    def _abort(self) -> None:
        """Drop the bytes the socket has not taken (a stalled server may never take them:
        a graceful close would wait for it, and so would the callers waiting for room)."""
        transport = _socket_transport(self._conn)
        if transport is not None:
            transport.abort()

    def _connected(self) -> bool:
        return self._conn is not None and self._conn.is_connected

    def _backlog(self) -> int:
        """Bytes written to the connection that its socket has not taken yet."""
        transport = _socket_transport(self._conn) if self._connected() else None
        return 0 if transport is None else transport.get_write_buffer_size()

    async def _room(self) -> None:
        """Wait until the backlog falls to a quarter of ``HIGH_WATER`` (the transport's
        low-water mark), or the connection breaks (the command then goes the reconnecting
        way). Only a caller with replies outstanding gets here, so a reader still runs."""
        with contextlib.suppress(*_BROKEN):
            await self._conn._writer.drain()

    def _write(self, commands: list[_Command]) -> None:
        """Pack and write ``commands`` in one go (synchronously: no other write can come
        between); each that cannot be encoded fails alone. The replies are read later."""
        packed = []
        for command in commands:
            if command.future.done():
                continue
            try:
                packed.extend(self._conn.pack_command(*command.args))
            except Exception as exc:
                command.future.set_exception(exc)
                continue
            self._sent.append(command)
        if packed:  # redis-py's own send_packed_command writes this way, then drains;
            self._conn._writer.writelines(packed)  # a broken socket shows on the read

    def _write_queued(self) -> None:
        """Write what is queued (after a (re)connection) while the socket takes it: what
        would go beyond ``HIGH_WATER`` unsent stays queued until replies are read."""
        while self._queue and self._backlog() <= HIGH_WATER:
            self._write([self._queue.popleft()])

    def _fail_all(self, error: BaseException) -> None:
        self._queue.extendleft(reversed(self._sent))
        self._sent.clear()
        while self._queue:
            command = self._queue.popleft()
            if not command.future.done():
                command.future.set_exception(error)

    def _hand_off(self) -> None:
        """The reader stops: the line's task reads (and sends) what is still outstanding."""
        if (self._queue or self._sent) and not self._closed:
            self._pump = asyncio.create_task(self._drain(), name="redis-command-line")
        else:
            self._busy = False

    async def _drain(self) -> None:
        try:
            await self._serve(until=None)
        finally:
            self._pump = None
            self._hand_off()

    async def _serve(self, until: asyncio.Future[Any] | None) -> None:
        """Connect and write what is queued, read replies in order, while anything is
        outstanding (and ``until`` is not done)."""
        backoff = BACKOFF_FIRST
        while (self._queue or self._sent) and not self._closed:
            if until is not None and until.done():
                break
            try:
                if self._queue:  # cut short here, they stay queued: sent again whole
                    await self._connect()
                    self._write_queued()
                if self._sent:  # cancel-safe: an interrupted read resumes where it stopped
                    await self._read_one()
                backoff = BACKOFF_FIRST
            except _BROKEN as exc:  # a broken connection, or none to be had
                await self.disconnect()
                outstanding = [*self._sent, *self._queue]  # in the order they were issued
                self._sent.clear()
                self._queue.clear()
                for command in outstanding:  # unanswered: send again, unless tried enough
                    command.attempts += 1
                    if command.future.done():
                        continue
                    if command.attempts > self._retries:
                        command.future.set_exception(_as_connection_error(exc))
                    else:
                        self._queue.append(command)
                await asyncio.sleep(backoff)
                backoff = min(2 * backoff, BACKOFF_MAX)
            except Exception as exc:  # e.g. a reply redis-py cannot parse, or a database
                await self.disconnect()  # the server refuses at connect: the callers hear
                outstanding = [*self._sent, *self._queue]  # of it, the stream starts afresh
                self._sent.clear()
                self._queue.clear()
                for command in outstanding:
                    if not command.future.done():
                        command.future.set_exception(exc)
        if self._closed:
            self._fail_all(RedisConnectionError("the command line was closed"))

    async def _connect(self) -> None:
        conn = self._conn
        if conn is None:
            conn = self._conn = self._pool.make_connection()
            conn.retry = Retry(NoBackoff(), 0)  # one attempt: the retries are ours
        if not conn.is_connected:
            await conn.connect()
            transport = _socket_transport(conn)
            if transport is not None:  # the transport pauses (drain waits) above it
                transport.set_write_buffer_limits(high=HIGH_WATER)

    async def _read_one(self) -> None:
        """Read the reply to the oldest command written and hand it to its caller."""
        try:
            reply = await self._conn.read_response(disconnect_on_error=False)
        except ResponseError as exc:  # read whole: the connection stays in step
            reply = exc
        command = self._sent.popleft()
        if command.future.done():
            return
        if isinstance(reply, ResponseError):
            command.future.set_exception(reply)
        else:
            command.future.set_result(reply)


def _as_connection_error(exc: BaseException) -> RedisConnectionError:
    if isinstance(exc, RedisConnectionError):
        return exc
    error = RedisConnectionError(f"{type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


def _socket_transport(conn: Any) -> asyncio.WriteTransport | None:
    """The connection's asyncio transport (TCP, TLS or Unix socket); None for an in-memory
    connection (fakeredis), whose writes never back up."""
    transport = getattr(getattr(conn, "_writer", None), "transport", None)
    return transport if isinstance(transport, asyncio.WriteTransport) else None
