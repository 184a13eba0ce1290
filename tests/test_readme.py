"""The README's examples run as written (against the private real Redis)."""

import asyncio
import re
from pathlib import Path

import trustchain_lab as tl

README = (Path(__file__).parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def test_the_ten_line_example_runs(real_redis_url, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", real_redis_url)
    namespace: dict = {}
    exec(BLOCKS[0], namespace)
    result = namespace["result"]
    assert result.backend == "redis" and len(result.top_level()) == 200
    assert "sequenceDiagram" in capsys.readouterr().out


def test_the_model_example_runs(real_redis_url, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", real_redis_url)
    namespace: dict = {}
    exec(BLOCKS[0], namespace)
    exec(BLOCKS[1], namespace)
    assert namespace["model"].backend == "sim"
    assert namespace["network"].client_cost > 0


def test_the_seed_example_is_a_valid_scenario():
    namespace: dict = {"tl": tl}
    exec(BLOCKS[2], namespace)
    assert [s.name for s in namespace["seed"].slots()] == ["S1", "S3", "S2", "S3"]


def test_the_service_example_runs(real_redis_url, capsys):
    code = BLOCKS[3].replace("redis://localhost:6379/0", real_redis_url)
    body = "async def main():\n" + "".join(f"    {line}\n" for line in code.splitlines())
    namespace: dict = {}
    exec(body, namespace)
    asyncio.run(namespace["main"]())
    assert "claims_drained [{'price': 9.5, 'sku': 42}]" in capsys.readouterr().out
