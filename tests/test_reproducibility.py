"""Same seed, same numbers: the gridded example run twice with one seed gives identical products and results;
another seed gives different ones."""
import json
import numpy as np
import pytest
import xarray as xr
from conftest import ROOT
from test_cli import run_cli

NB = ROOT / "nbs" / "runs" / "gridded_example.ipynb"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("repro")
    for rid, seed in (("a", 5), ("b", 5), ("c", 6)):
        r = run_cli("run", NB, "-p", "seed", seed, "-p", "resolution", 2.0, "--out", out, "--run-id", rid)
        assert r.returncode == 0, r.stderr[-3000:]
    return out


def load(out, rid):
    with xr.open_dataset(out / rid / "gpp_example.nc", engine="h5netcdf") as ds:
        return ds.load()


def same_seed_identical_outputs(runs):
    """Bit for bit, and safely so: both runs are processes on this machine with the same environment; LightGBM runs on one
    thread (deterministic), the grid is one chunk predicted row by row, and the truth is elementwise numpy."""
    a, b = load(runs, "a"), load(runs, "b")
    for v in ("gpp", "gpp_true"):
        np.testing.assert_array_equal(a[v].values, b[v].values)
        assert a[v].attrs["units"] == b[v].attrs["units"] == "gC m-2 d-1"
    assert json.loads((runs / "a" / "results.json").read_text()) == json.loads((runs / "b" / "results.json").read_text())


def other_seed_differs(runs):
    a, c = load(runs, "a"), load(runs, "c")
    assert not np.array_equal(a.gpp_true.values, c.gpp_true.values)
    assert json.loads((runs / "a" / "results.json").read_text())["seed"] == 5
    assert json.loads((runs / "c" / "results.json").read_text())["seed"] == 6


def test_same_seed_same_numbers_other_seed_others(runs):
    "One test, so that the three runs are made once (pytest-xdist would make a module fixture once per worker)."
    same_seed_identical_outputs(runs)
    other_seed_differs(runs)
