"""One connection per endpoint, its commands pipelined: what is issued while a batch is out
goes as the next batch, in one write, and the replies come back in order.

redis-py gives each concurrent command a pooled connection of its own (a checkout per
command), or, with one connection, makes each command wait for the reply to the one
before (a round trip per command in the queue). Here a caller that finds the line idle
sends and reads itself (no task hop: one request at a time costs what redis-py's direct
call does); commands issued meanwhile queue, and what is left when it has its reply is
served by a task of the line, batch after batch, until none is left. Replies are handed
out in order; a caller that gave up (cancelled) is skipped without disturbing the order.
A broken connection is reconnected (backing off) and the commands it left unanswered are
sent again, up to ``retries`` times, as redis-py's ``Retry`` does.
"""

from __future__ import annotations

import asyncio
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
        self._queue: deque[_Command] = deque()
        self._unread: list[_Command] = []  # written, replies not read (a reader gave up)
        self._busy = False  # a caller or the line's task is sending and reading
        self._pump: asyncio.Task[None] | None = None
        self._closed = False

    async def execute(self, *args: Any) -> Any:
        """Send one command; its reply (a Redis error reply raises ``ResponseError``; a
        connection that stays broken raises ``ConnectionError``)."""
        if self._closed:
            raise RedisConnectionError("the command line is closed")
        command = _Command(args, asyncio.get_running_loop().create_future())
        self._queue.append(command)
        if not self._busy:  # idle: this caller sends and reads, until it has its reply
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
        """Whether a batch is out (its replies not all read)."""
        return self._busy

    async def disconnect(self) -> None:
        """Drop the connection (e.g. after Redis restarted); the next batch reconnects.
        Replies not read yet are lost: their commands are sent again (``retries``)."""
        if self._conn is not None:
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
            await self._conn.disconnect(nowait=True)
            self._conn = None

    def _fail_all(self, error: BaseException) -> None:
        self._queue.extendleft(reversed(self._unread))
        self._unread = []
        while self._queue:
            command = self._queue.popleft()
            if not command.future.done():
                command.future.set_exception(error)

    def _hand_off(self) -> None:
        """The server stops: the line's task serves what is still queued."""
        if (self._queue or self._unread) and not self._closed:
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
        """Send batches and read their replies while commands are queued (and ``until``
        is not done)."""
        backoff = BACKOFF_FIRST
        while (self._queue or self._unread) and not self._closed:
            if until is not None and until.done():
                break
            batch, self._unread = self._unread, []
            written = bool(batch)  # replies to read before anything is sent
            if not written:
                batch = [c for c in self._queue if not c.future.done()]  # skip who gave up
                self._queue.clear()
            if not batch:
                continue
            try:
                await self._exchange(batch, written)
                backoff = BACKOFF_FIRST
            except asyncio.CancelledError:  # the serving caller gave up: the replies it
                if self._conn is not None and self._conn.is_connected:  # did not read are
                    self._unread = batch  # read by the line's task, on this connection
                else:  # cut short while connecting or writing: send it all again (what
                    for command in batch:  # was written may have run: it counts as a try)
                        command.attempts += 1
                    self._queue.extendleft(reversed(batch))
                raise
            except _BROKEN as exc:
                await self.disconnect()
                retry = []
                for command in batch:  # unanswered: send again, unless tried enough
                    command.attempts += 1
                    if command.future.done():
                        continue
                    if command.attempts > self._retries:
                        command.future.set_exception(_as_connection_error(exc))
                    else:
                        retry.append(command)
                self._queue.extendleft(reversed(retry))
                await asyncio.sleep(backoff)
                backoff = min(2 * backoff, BACKOFF_MAX)
            except Exception as exc:  # e.g. an argument Redis cannot take: the callers
                await self.disconnect()  # hear of it, and the stream starts afresh
                for command in batch:
                    if not command.future.done():
                        command.future.set_exception(exc)
        if self._closed:
            self._fail_all(RedisConnectionError("the command line was closed"))

    async def _exchange(self, batch: list[_Command], written: bool) -> None:
        """Send ``batch`` (unless ``written``) and read its replies, removing each answered
        command from ``batch``: what is left in it when this raises is unanswered."""
        conn = self._conn
        if not written:
            if conn is None:
                conn = self._conn = self._pool.make_connection()
                conn.retry = Retry(NoBackoff(), 0)  # one attempt: the retries are ours
            if not conn.is_connected:
                await conn.connect()
            packed = []
            for command in list(batch):  # each on its own: one that cannot be encoded
                try:  # fails alone
                    packed.extend(conn.pack_command(*command.args))
                except Exception as exc:
                    batch.remove(command)
                    if not command.future.done():
                        command.future.set_exception(exc)
            if not batch:
                return
            await conn.send_packed_command(packed, check_health=False)
        while batch:
            command = batch[0]
            try:  # cancel-safe: an interrupted read resumes where it stopped
                reply = await conn.read_response(disconnect_on_error=False)
            except ResponseError as exc:  # read whole: the connection stays in step
                reply = exc
            del batch[0]
            if command.future.done():
                continue
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
