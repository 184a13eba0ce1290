"""Suite ``notebooks``: execute every notebook in a fresh kernel and render it to HTML.

The notebooks are kept without outputs; this suite writes an executed copy of each
(``notebooks/<name>.ipynb``) and a rendered one (``notebooks/<name>.html``) into the run
folder, so a reader can see them without Jupyter. ``--quick`` runs them with their
parameter cell shrunk (``QUICK``, what the tests use). It needs the ``notebooks`` extra
(nbclient, nbconvert, ipykernel) and runs only when named: ``python -m benchmarks notebooks``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from .core import Context, SuiteOutput, markdown_table

TITLE = "Notebooks, executed and rendered"
DESCRIPTION = "execute every notebook and render it to HTML (only when named)"
FOLDER = Path(__file__).parent.parent / "notebooks"
TIMEOUT = 1800  # seconds a cell may take
INLINE = "module://matplotlib_inline.backend_inline"  # figures land in the outputs
QUICK = {  # the parameter cell each notebook runs with under --quick (and in the tests)
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
        "REQUESTS = 40\nBIG_WORKERS = 200\nBIG_REQUESTS = 5\nWAN_ONE_WAY = 0.02\n"
        "MAP_WORKERS = [2, 8]\nMAP_IN_FLIGHT = [1, 16]\nMAP_REQUESTS = 60\nSEED = 5"
    ),
    "06_variants": (
        "INTERESTS = [0.05, 0.5]\nNS = [1, 4]\nREQUESTS_SIM = 300\nREQUESTS_REAL = 30\n"
        "GRACES = [0.0, 0.02]\nGRACE_REQUESTS_SIM = 1000\nGRACE_REQUESTS_REAL = 40\n"
        "DIAGRAM_REQUESTS = 10\nSEED = 6"
    ),
}


def names() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.ipynb"))


def execute(name: str, *, quick: bool, workdir: Path, redis_url: str | None = None):
    """Run one notebook top to bottom in a fresh kernel; the executed notebook, and the
    error of the first cell that failed (None if none did)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    book = nbformat.read(FOLDER / f"{name}.ipynb", as_version=4)
    if quick and name in QUICK:  # a notebook without quick parameters runs as saved
        for cell in book.cells:
            if "parameters" in cell.metadata.get("tags", []):
                cell.source = QUICK[name]
    saved = {k: os.environ.get(k) for k in ("REDIS_URL", "MPLBACKEND")}
    os.environ["MPLBACKEND"] = INLINE  # the kernel inherits these
    if redis_url is not None:
        os.environ["REDIS_URL"] = redis_url
    error = None
    try:
        client = NotebookClient(
            book,
            timeout=TIMEOUT,
            kernel_name="python3",
            resources={"metadata": {"path": str(workdir)}},
        )
        client.execute()
    except CellExecutionError as exc:  # the failing cell's error, without colour codes
        error = f"{exc.ename}: {exc.evalue}"[:300]
    except (CellTimeoutError, DeadKernelError) as exc:
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return book, error


def run(ctx: Context) -> SuiteOutput:
    try:
        import nbconvert  # noqa: F401
        import nbformat
    except ImportError:
        why = 'it needs the notebooks extra: pip install -e ".[notebooks]"'
        return SuiteOutput("notebooks", TITLE, pd.DataFrame(), f"**Skipped**: {why}.\n", [], {})
    from nbconvert import HTMLExporter

    out = ctx.path("notebooks")
    out.mkdir(exist_ok=True)
    real = ctx.redis_url if ctx.redis_backend == "redis" else None
    rows = []
    for name in ctx.bar(names(), "notebooks"):
        t = time.perf_counter()
        book, error = execute(name, quick=ctx.quick, workdir=out, redis_url=real)
        nbformat.write(book, out / f"{name}.ipynb")
        html, _ = HTMLExporter().from_notebook_node(book)
        (out / f"{name}.html").write_text(html)
        rows.append(
            {
                "notebook": name,
                "status": "ok" if error is None else f"error: {error}",
                "seconds": round(time.perf_counter() - t, 1),
                "rendered": f"[{name}.html](notebooks/{name}.html)",
            }
        )
    df = pd.DataFrame(rows)
    failed = int((df["status"] != "ok").sum())
    redis = "this run's" if real else "each notebook's own (a private server, or fakeredis)"
    md = (
        f"{'Quick' if ctx.quick else 'Full'} parameters; Redis: {redis}. "
        f"{failed} of {len(df)} failed.\n\n{markdown_table(df)}\n"
    )
    return SuiteOutput("notebooks", TITLE, df, md, [], {"notebooks_failed": failed})
