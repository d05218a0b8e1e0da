"""The compiled kernels in fresh processes: the eddy-covariance chain on the shipped DE-Tha year, and two steps of the
Eulerian transport with a two-member ensemble.

A smoke test of both, and, started first (`SLOW_FIRST` in conftest.py), the one place numba compiles their kernels on a
fresh clone: numba caches compiled kernels on disk (`cache=True`), so the notebooks that run later load them instead of
compiling the same kernels side by side (on 2 cores, chapters 15 and 16 took 52 s and 61 s on a fresh clone against
10 s and 23 s with the cache warm). The two processes run one after the other, so the test holds one core, as the other
tests do."""
import subprocess, sys
from conftest import ROOT

EC = """
import numpy as np
from carbonflux_nb.datasets import load_detha98
from carbonflux_nb.ec.pipeline import process_site
r = process_site(load_detha98(), 50.96, 13.57, 1)
gpp = r.daily[["GPP_NT", "GPP_DT"]].mean() * 365.25          # gC m-2 yr-1
assert np.isfinite(gpp).all() and (1000 < gpp).all() and (gpp < 3000).all(), gpp   # a spruce forest's year
print(gpp.round(0).to_dict())
"""
TRANSPORT = """
import numpy as np
from carbonflux_nb.atmos.eulerian import EulerianModel
from carbonflux_nb.twin.atmos import WindField, atmos_grid
grid = atmos_grid(); K, J, I = grid.shape
out = EulerianModel(grid, WindField()).run(np.full((K, J, I), 400.0), "2018-01-01", steps=2, n_members=2, progress=False,
                                           output_every=1)
co2 = out.co2.values
assert np.isfinite(co2).all() and abs(co2 - 400.0).max() < 1e-6, abs(co2 - 400.0).max()   # a uniform field stays uniform
print(co2.shape)
"""


def test_compiled_kernels_in_a_fresh_process():
    for name, code in (("eddy covariance", EC), ("transport", TRANSPORT)):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=900)
        assert r.returncode == 0, f"{name}:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
