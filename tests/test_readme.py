"""The README's examples run as written (against the private real Redis)."""

import re
from pathlib import Path

import trustchain_lab as tl

README = (Path(__file__).parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def block(marker: str) -> str:
    """The one README example that contains ``marker``."""
    (found,) = [b for b in BLOCKS if marker in b]
    return found


def test_the_ten_line_example_runs(real_redis_url, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", real_redis_url)
    namespace: dict = {}
    exec(block("tl.run_redis(scenario)"), namespace)
    result = namespace["result"]
    assert result.backend == "redis" and len(result.top_level()) == 200
    assert "sequenceDiagram" in capsys.readouterr().out


def test_the_model_example_runs(real_redis_url, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", real_redis_url)
    namespace: dict = {}
    exec(block("tl.run_redis(scenario)"), namespace)
    exec(block("tl.calibrate()"), namespace)
    assert namespace["model"].backend == "sim"
    assert namespace["network"].client_cost > 0


def test_the_seed_example_is_a_valid_scenario():
    namespace: dict = {"tl": tl}
    exec(block("SubTask"), namespace)
    assert [s.name for s in namespace["seed"].slots()] == ["S1", "S3", "S2", "S3"]


def test_the_service_example_runs_as_pasted(real_redis_url, capsys):
    code = block("Dispatcher").replace("redis://localhost:6379/0", real_redis_url)
    exec(code, {"__name__": "__main__"})  # a whole script: asyncio.run included
    assert "claims_drained [{'price': 9.5, 'sku': 42}]" in capsys.readouterr().out


def test_the_variants_example_prints_what_the_readme_says(capsys):
    code = block("tl.variants()")
    namespace: dict = {"tl": tl}
    exec(code, namespace)
    printed = capsys.readouterr().out.splitlines()
    claimed = [line[2:] for line in code.splitlines() if line.startswith("# ")]
    assert printed[: len(claimed)] == claimed
    rates = namespace["tl"].run_sim(namespace["race"], tl.Network.zero()).summary()
    assert rates["premature_rate"] == 0 and rates["excluded_rate"] > 0.3


def test_the_acl_example_prints_a_setuser_line(capsys):
    exec(block("acl_rules"), {})
    line = capsys.readouterr().out.strip()
    assert line.startswith("ACL SETUSER worker on >password resetkeys")
    assert "-@all" in line and "~tc:claims:*" in line and "&tc:task:*" in line


def test_the_sweep_example_runs(real_redis_url, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", real_redis_url)
    namespace: dict = {}
    exec(block("tl.run_redis(scenario)"), namespace)
    exec(block("tl.sweep("), namespace)
    table = namespace["table"]
    assert list(table["workers"]) == [2, 2, 8, 8] and list(table["interest"]) == [0.3, 0.9] * 2
    assert "premature_rate_hi" in capsys.readouterr().out


def test_the_seed_example_runs_in_the_model():
    namespace: dict = {"tl": tl}
    exec(block("SubTask"), namespace)
    result = tl.run_sim(namespace["seed"].replace(requests=20), tl.Network.zero())
    assert set(result.requests["task"]) == {"Foo", "Bar"}
    assert (result.top_level()["outcome"] == "complete").all()


def test_the_placement_example_runs(real_redis_url, monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", real_redis_url)
    namespace: dict = {}
    exec(block("tl.run_redis(scenario)"), namespace)
    exec(block('placement="processes"'), namespace)
    assert namespace["spread"].meta["placement"] == "processes"
    assert namespace["spread"].meta["link"] == {"delay": 0.002, "jitter": 0.0}
    assert namespace["model"].backend == "sim"
    assert capsys.readouterr().out.splitlines()[-1].startswith("processes ")


TESTED = (  # one marker per README example, each run by a test above
    "tl.run_redis(scenario)",
    "tl.calibrate()",
    "SubTask",
    "Dispatcher",
    "tl.variants()",
    "acl_rules",
    "tl.sweep(",
    'placement="processes"',
)


def test_every_readme_example_is_run_by_a_test():
    untested = [b.splitlines()[0] for b in BLOCKS if not any(m in b for m in TESTED)]
    assert untested == [], "README examples no test runs"
