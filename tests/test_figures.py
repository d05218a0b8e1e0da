"""Figures a reader can trust (issue 23, point 7): `maps.unlabelled_axes` finds what a figure lacks, `maps.show` fails on
it, and every run notebook shows its figures through `maps.show`, so its test (tests/test_notebooks.py) renders them and
fails on an axes without labels."""
import json
import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from carbonflux_nb.core import InputError  # noqa: E402
from carbonflux_nb.maps import add_coastlines, check_figures, show, unlabelled_axes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUNS = sorted((ROOT / "nbs" / "runs").glob("*.ipynb"))
DRAWS = re.compile(r"plt\.subplots|plt\.figure|\bplot_\w+\(|\.plot\(|\.plot\.\w+\(")


def labelled(fig, ax):
    ax.set(xlabel="year", ylabel="GPP [TgC yr-1]")
    return fig


def no_x(fig, ax): ax.set_ylabel("GPP [TgC yr-1]")
def no_y(fig, ax): ax.set_xlabel("year")


def bare_colourbar(fig, ax):
    labelled(fig, ax); fig.colorbar(ax.pcolormesh(np.ones((2, 2))), ax=ax)


def map_without_coastlines(fig, ax):
    ax.pcolormesh(np.arange(-180, 181, 90), [-90, 0, 90], np.ones((2, 4)))
    ax.set(xlabel="longitude [degrees east]", ylabel="latitude [degrees north]", title="flux")
    fig.colorbar(ax.collections[0], ax=ax, label="flux [gC m-2 d-1]")


def map_without_title(fig, ax):
    map_without_coastlines(fig, ax); add_coastlines(ax); ax.set_title("")


def map_without_colourbar(fig, ax):
    ax.pcolormesh(np.arange(-180, 181, 90), [-90, 0, 90], np.ones((2, 4)))
    ax.set(xlabel="lon", ylabel="lat", title="flux"); add_coastlines(ax)


@pytest.mark.parametrize("draw, problem", [
    (no_x, "no x label"), (no_y, "no y label"), (bare_colourbar, "colourbar without a label"),
    (map_without_coastlines, "map without coastlines"), (map_without_title, "map without a title"),
    (map_without_colourbar, "map of a field without a colourbar or legend")])
def test_an_incomplete_figure_fails(draw, problem):
    plt.close("all")
    fig, ax = plt.subplots()
    ax.plot([2019, 2020], [1, 2])
    draw(fig, ax)
    assert any(problem in p for p in unlabelled_axes(fig)), unlabelled_axes(fig)
    with pytest.raises(InputError, match=rf"figure {fig.number}: axes \d+ .*{problem}"): show()
    plt.close("all")


def test_a_complete_figure_passes():
    plt.close("all")
    fig, axs = plt.subplots(1, 3, sharey=True)
    for ax in axs: ax.plot([2019, 2020], [1, 2]); ax.set_xlabel("year")
    axs[0].set_ylabel("GPP [TgC yr-1]")                       # the shared, hidden y tick labels need none
    map_without_coastlines(fig, axs[2]); add_coastlines(axs[2])
    fig.add_subplot(3, 3, 9).axis("off")
    assert unlabelled_axes(fig) == [] and check_figures(fig) == [fig]
    plt.close("all")


@pytest.mark.parametrize("nb", RUNS, ids=[p.stem for p in RUNS])
def test_run_notebooks_show_figures_through_the_check(nb):
    cells = ["".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
    drawing = [s for s in cells if DRAWS.search(s) and "#| export" not in s]
    assert drawing, f"{nb.name}: no figure cell found"
    for s in drawing:
        assert re.search(r"\bshow\(", s) and "plt.show()" not in s, f"{nb.name}: a figure cell does not end in maps.show:\n{s}"


def test_notebook_tests_check_every_figure_drawn(tmp_path):
    """Every notebook's test checks the figures it draws, however it draws them (tests/figcheck): a figure left for the
    inline backend at a cell's end and one shown with a bare plt.show() are both reported; a labelled one is not."""
    import subprocess
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook
    from test_notebooks import NBDEV_TEST, notebook_env
    cells = ["import matplotlib.pyplot as plt\nplt.plot([1, 2])",                                   # left open
             "fig, ax = plt.subplots(); ax.plot([1, 2]); ax.set(xlabel='day', ylabel='GPP [gC m-2 d-1]')",
             "plt.figure(); plt.plot([3, 4]); plt.ylabel('NEE [gC m-2 d-1]'); plt.show()"]         # shown, no x label
    nb = tmp_path / "figures.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), nb)
    report = tmp_path / "report.txt"
    r = subprocess.run([str(NBDEV_TEST), str(nb), "--n-workers", "0"], capture_output=True, text=True, timeout=300,
                       env=notebook_env(report), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = report.read_text().splitlines()
    assert len(lines) == 3, lines
    assert "import matplotlib" in lines[0] and lines[0].endswith("no x label") and lines[1].endswith("no y label")
    assert "plt.figure()" in lines[2] and lines[2].endswith("no x label")
