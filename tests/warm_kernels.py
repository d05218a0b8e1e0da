"""Compile the numba kernels once before the tests (`make test` runs this first).

numba caches compiled kernels on disk (`cache=True`), but on a fresh clone there is no cache yet, and the notebook tests
that start side by side would each compile the same kernels (on 2 cores that cost about a minute of the suite). Two
processes compile them here at the same time, the eddy-covariance chain in one and the Eulerian transport in the
other; with a warm cache this takes a few seconds."""
import subprocess, sys, time

EC = """
from carbonflux_nb.datasets import load_detha98
from carbonflux_nb.ec_pipeline import process_site
process_site(load_detha98(), 51.0, 13.6, 1)
"""
TRANSPORT = """
import numpy as np
from carbonflux_nb.atmos_grid import atmos_grid, WindField
from carbonflux_nb.eulerian import EulerianModel
grid = atmos_grid(); K, J, I = grid.shape
EulerianModel(grid, WindField()).run(np.full((K, J, I), 400.0), "2018-01-01", steps=2, n_members=2, progress=False)
"""

if __name__ == "__main__":
    t0 = time.perf_counter()
    procs = {name: subprocess.Popen([sys.executable, "-c", code]) for name, code in (("eddy covariance", EC), ("transport", TRANSPORT))}
    failed = [name for name, p in procs.items() if p.wait() != 0]
    if failed: sys.exit(f"warming the numba kernels failed: {failed} (the tests would show why)")
    print(f"numba kernels compiled or loaded from the cache in {time.perf_counter() - t0:.0f} s")
