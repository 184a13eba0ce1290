"""Every notebook runs top to bottom in a fresh kernel, with its parameter cell shrunk."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
SMALL = {  # the parameter cell each notebook runs with in the tests
    "01_tour": "REQUESTS = 4\nSEED = 1",
    "02_probe_window": (
        "WORKERS, INTEREST = 3, 0.5\nCLAIM_DELAY_MEDIAN, CLAIM_DELAY_SIGMA = "
        "0.03, 1.0\nTARGET_MISS = 0.01\nWINDOWS = [0.05, 0.2]\n"
        "REQUESTS_SIM = 500\nREQUESTS_REAL = 40\nSEED = 2"
    ),
    "03_claim_races": (
        "WORK_MEAN = 0.02\nRATIOS = [0.1, 1.0]\nREQUESTS_SIM = 500\nREQUESTS_REAL = 40\nSEED = 3"
    ),
    "04_fanout_scaling": (
        "NS = [1, 4]\nREQUESTS_SIM = 200\nREQUESTS_REAL = 10\nWORK_MEAN = 0.02\nSEED = 4"
    ),
    "05_sim_vs_real": (
        "REQUESTS = 40\nBIG_WORKERS = 200\nBIG_REQUESTS = 5\nWAN_ONE_WAY = 0.02\nSEED = 5"
    ),
    "06_variants": (
        "INTERESTS = [0.05, 0.5]\nNS = [1, 4]\nREQUESTS_SIM = 300\nREQUESTS_REAL = 30\n"
        "GRACES = [0.0, 0.02]\nGRACE_REQUESTS_SIM = 1000\nGRACE_REQUESTS_REAL = 40\n"
        "DIAGRAM_REQUESTS = 10\nSEED = 6"
    ),
}


def test_every_notebook_has_small_parameters_and_is_saved_without_outputs():
    names = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == sorted(SMALL)
    for name in names:
        book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        tagged = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{name}: needs exactly one cell tagged 'parameters'"
        assert all(not c.get("outputs") for c in book.cells if c.cell_type == "code")
        assert book.cells[0].cell_type == "markdown"  # opens with its narrative


@pytest.mark.parametrize("name", sorted(SMALL))
def test_notebook_runs_top_to_bottom(name, real_redis_url, monkeypatch, tmp_path):
    monkeypatch.setenv("REDIS_URL", real_redis_url)  # the kernel inherits it
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    for cell in book.cells:
        if "parameters" in cell.metadata.get("tags", []):
            cell.source = SMALL[name]
    NotebookClient(
        book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [
        o
        for c in book.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert errors == []
