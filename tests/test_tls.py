"""The chain over TLS (rediss://) on a private, TLS-only redis-server with a throw-away CA."""

import asyncio
import shutil
import subprocess
import time

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tests.conftest import REQUIRE_REDIS
from trustchain_lab.chain import Dispatcher, Keys, Worker
from trustchain_lab.redis_server import free_port, redis_server_binary


def _run(*args: str, cwd) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def tls_url(tmp_path):
    binary, openssl = redis_server_binary(), shutil.which("openssl")
    if binary is None or openssl is None:
        message = "TLS test needs redis-server and openssl on PATH"
        if REQUIRE_REDIS:
            pytest.fail(f"TRUSTCHAIN_REQUIRE_REDIS=1 but {message}")
        pytest.skip(message)
    _run(
        openssl,
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=trustchain test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=tmp_path,
    )
    _run(
        openssl,
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        cwd=tmp_path,
    )
    (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _run(
        openssl,
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
        cwd=tmp_path,
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            "server.crt",
            "--tls-key-file",
            "server.key",
            "--tls-ca-cert-file",
            "ca.crt",
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
            "--logfile",
            "log",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={tmp_path / 'ca.crt'}"
    try:
        give_up = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < give_up:
            try:
                if asyncio.run(_ping(url)):
                    break
            except Exception:
                time.sleep(0.05)
        if proc.poll() is not None:
            log = (tmp_path / "log").read_text(errors="replace")[-300:]
            if "TLS" in log and REQUIRE_REDIS is False:
                pytest.skip(f"this redis-server has no TLS: {log}")
            pytest.fail(f"TLS redis-server did not start: {log}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _ping(url: str) -> bool:
    client = Redis.from_url(url)
    try:
        return await client.ping()
    finally:
        await client.aclose()


async def test_the_chain_runs_over_tls(tls_url):
    keys = Keys("tls")
    d, w = Dispatcher(tls_url, name="gw", keys=keys), Worker(tls_url, name="w", keys=keys)

    async def echo(x):
        return x.payload

    w.on("Foo", echo)
    await d.start()
    await w.start()
    try:
        final = await d.dispatch("Foo", "over tls", probe_window=1, deadline=5)
        assert final.reason == "claims_drained" and final.results == ["over tls"]
    finally:
        await w.close()
        await d.close()
    plain = tls_url.replace("rediss://", "redis://").split("?")[0]
    with pytest.raises((RedisError, TimeoutError)):  # the server speaks TLS only
        await asyncio.wait_for(_ping(plain), 5)
