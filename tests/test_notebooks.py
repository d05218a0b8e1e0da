"""Every notebook of the book runs as a test (nbdev's runner, in its own process), one pytest test each.

Cells flagged `#| slow` or `#| notest` are skipped here (settings: tst_flags); the papermill run notebooks run
them at full size."""
import subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
NBDEV_TEST = Path(sys.executable).parent / "nbdev-test"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[str(p.relative_to(ROOT / "nbs")) for p in NOTEBOOKS])
def test_notebook(nb):
    r = subprocess.run([str(NBDEV_TEST), str(nb), "--n-workers", "0"], cwd=ROOT, capture_output=True, text=True,
                       timeout=1800)
    assert r.returncode == 0, f"{nb.name} failed:\n{r.stdout[-4000:]}\n{r.stderr[-8000:]}"


def test_every_chapter_is_tested():
    assert len(NOTEBOOKS) >= 8 and any(p.parent.name == "runs" for p in NOTEBOOKS)
