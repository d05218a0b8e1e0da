"""Every notebook of the book runs as a test (nbdev's runner, in its own process), one pytest test each.

Cells flagged `#| slow` or `#| notest` are skipped here (settings: tst_flags); the papermill run notebooks run
them at full size."""
import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
NBDEV_TEST = Path(sys.executable).parent / "nbdev-test"


THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


FIGCHECK = Path(__file__).resolve().parent / "figcheck"


def notebook_env(figure_report=None) -> dict:
    """The environment of one notebook's test process: its share of the cores for OpenMP and BLAS threads.

    With pytest-xdist running notebooks side by side, torch, LightGBM, XGBoost, BLAS and numba's parallel loops would
    each start a thread per core and spin against each other (h2o and FLAML take the share through `core.cpu_threads`):
    two torch notebooks together took over 5 minutes each on 2 cores, against under one minute alone. A variable
    already set by the caller wins.

    With `figure_report` (a path), every figure the notebook draws is checked for what a reader would miss (labels,
    units, colourbars, a map's title and coastlines: `maps.unlabelled_axes`) and the findings go to that file
    (tests/figcheck/sitecustomize.py, loaded at the process's start through PYTHONPATH)."""
    env = dict(os.environ)
    if figure_report:
        env["PYTHONPATH"] = os.pathsep.join([str(FIGCHECK)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        env["FIGURE_REPORT"] = str(figure_report)
    share = max(1, (os.cpu_count() or 1) // max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    for v in THREAD_VARS: env.setdefault(v, str(share))
    return env


def cell_timing_args() -> list:
    """`CELL_TIMING_MIN=S` (seconds): nbdev-test reports every cell slower than S, and the lines are appended to
    out/cell_timing.txt (notebook:cell id: seconds), to find what makes a notebook's test slow."""
    s = os.environ.get("CELL_TIMING_MIN")
    return ["--cell-timing-min", s] if s else []


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[str(p.relative_to(ROOT / "nbs")) for p in NOTEBOOKS])
def test_notebook(nb, tmp_path):
    timing, report = cell_timing_args(), tmp_path / "figures.txt"
    r = subprocess.run([str(NBDEV_TEST), str(nb), "--n-workers", "0", *timing], cwd=ROOT, capture_output=True, text=True,
                       timeout=1800, env=notebook_env(report))
    if timing:
        (ROOT / "out").mkdir(exist_ok=True)
        with open(ROOT / "out" / "cell_timing.txt", "a") as f:
            f.writelines(l + "\n" for l in r.stdout.splitlines() if l.startswith(nb.name + ":"))
    assert r.returncode == 0, f"{nb.name} failed:\n{r.stdout[-4000:]}\n{r.stderr[-8000:]}"
    missing = report.read_text().splitlines() if report.exists() else []
    assert not missing, f"{nb.name}: figures a reader cannot read:\n" + "\n".join(dict.fromkeys(missing))


def test_every_chapter_is_tested():
    assert len(NOTEBOOKS) >= 8 and any(p.parent.name == "runs" for p in NOTEBOOKS)
