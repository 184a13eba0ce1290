"""Every notebook runs top to bottom in a fresh kernel, with its parameter cell shrunk;
the notebooks suite renders them to HTML."""

from pathlib import Path

import nbformat
import pytest

from benchmarks import notebooks as suite
from benchmarks.core import Context


def test_every_notebook_has_small_parameters_and_is_saved_without_outputs():
    assert suite.names() == sorted(suite.QUICK)
    for name in suite.names():
        book = nbformat.read(suite.FOLDER / f"{name}.ipynb", as_version=4)
        tagged = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{name}: needs exactly one cell tagged 'parameters'"
        assert all(not c.get("outputs") for c in book.cells if c.cell_type == "code")
        assert book.cells[0].cell_type == "markdown"  # opens with its narrative
        assert book.cells[-1].cell_type == "code"  # closes with a conclusion it computes
        assert "conclusion" in book.cells[-1].source.lower()


@pytest.mark.parametrize("name", sorted(suite.QUICK))
def test_notebook_runs_top_to_bottom(name, real_redis_url, tmp_path):
    book, error = suite.execute(name, quick=True, workdir=tmp_path, redis_url=real_redis_url)
    assert error is None
    assert any(c.get("outputs") for c in book.cells if c.cell_type == "code")


def test_the_notebooks_suite_writes_executed_and_rendered_copies(monkeypatch, tmp_path):
    monkeypatch.setattr(suite, "names", lambda: ["01_tour"])
    ctx = Context(
        quick=True,
        backends=("sim", "redis"),
        out=tmp_path,
        redis_url="fakeredis",
        redis_backend="fakeredis",
        progress=False,
    )
    out = suite.run(ctx)
    assert list(out.data["status"]) == ["ok"]
    html = (Path(tmp_path) / "notebooks" / "01_tour.html").read_text()
    assert "<html" in html and "sequenceDiagram" in html
    assert "data:image/png;base64" in html  # the figures are in the page
    assert nbformat.read(tmp_path / "notebooks" / "01_tour.ipynb", as_version=4).cells


def test_a_failing_notebook_is_reported_in_one_clean_line(monkeypatch, tmp_path):
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_markdown_cell("# toy"), nbformat.v4.new_code_cell("1 / 0")]
    nbformat.write(book, tmp_path / "toy.ipynb")
    monkeypatch.setattr(suite, "FOLDER", tmp_path)
    _, error = suite.execute("toy", quick=True, workdir=tmp_path)  # no quick parameters
    assert error == "ZeroDivisionError: division by zero"  # no terminal colour codes
