"""Lagrangian particle model benchmark (chapter 52): particle-steps per second, and building H for the
`china` preset at 1 degree for one month of releases (time and peak memory).

    .venv/bin/python benchmarks/lagrangian_bench.py [--particles 1000000] [--steps 20] [--per-cell 20] [--check]

--check exits 1 if fewer than 20 million particle-steps per second are reached (the issue's target).
"""
import argparse, os, platform, resource, sys, time
import numpy as np, pandas as pd
from carbonflux_nb.config import get_settings
from carbonflux_nb.twin.atmos import atmos_grid, WindField
from carbonflux_nb.atmos.lagrangian import domain_winds, advect, build_srm


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--particles", type=int, default=1_000_000)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--per-cell", type=int, default=20)
    p.add_argument("--coverage", type=float, default=0.05, help="share of 1-degree 3-hour column boxes observed")
    p.add_argument("--skip-h", action="store_true")
    p.add_argument("--check", action="store_true")
    a = p.parse_args()
    reg = get_settings().region("china")
    grid = atmos_grid(1.0, 1.0, bbox=(reg.lon_min, reg.lon_max, reg.lat_min, reg.lat_max))
    wf = WindField(); t0 = pd.Timestamp("2018-07-01")
    w0, w1 = domain_winds(grid, wf, t0), domain_winds(grid, wf, t0 + pd.Timedelta(hours=3))
    r = np.random.default_rng(0); N = a.particles
    lon = r.uniform(grid.lon_e[0], grid.lon_e[-1], N); lat = r.uniform(grid.lat_e[0], grid.lat_e[-1], N); sig = r.uniform(0.3, 1.0, N)
    advect(lon[:1000].copy(), lat[:1000].copy(), sig[:1000].copy(), w0, w1, 0.5, 1200.0)     # numba kernel loaded
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs; domain china at 1 degree: {grid.shape[1]} x {grid.shape[2]} cells, {grid.shape[0]} layers")
    t = time.perf_counter()
    for s in range(a.steps): advect(lon, lat, sig, w0, w1, s / a.steps, 1200.0, step=s)
    dt = time.perf_counter() - t
    rate = N * a.steps / dt
    print(f"advection: {N:,} particles x {a.steps} steps in {dt:.2f} s = {rate / 1e6:.1f} million particle-steps per second "
          f"(random numbers included)")
    if not a.skip_h:
        J, I = grid.shape[1:]
        month = pd.date_range(t0, t0 + pd.Timedelta(days=50), freq="3h", inclusive="left")
        rr = np.random.default_rng(1)
        keep = rr.random((len(month), J, I)) < a.coverage
        tb, jj, ii = np.nonzero(keep)
        rec = pd.DataFrame({"kind": "column", "time": month[tb], "lat": grid.lat[jj], "lon": grid.lon[ii]})
        t = time.perf_counter()
        srm = build_srm(grid, wf, rec, pd.DatetimeIndex([t0]), period_days=31, per_cell=a.per_cell, max_age=20, progress=False)
        dt = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"H for one month of releases: {srm.shape[1]:,} states x {srm.shape[0]:,} column receptors ({100 * a.coverage:g} % of the "
              f"1-degree 3-hour boxes over 50 days), {a.per_cell} particles per state, 20-day tracking: {dt:.1f} s, {srm.H.nnz:,} non-zeros, "
              f"peak memory {peak:.0f} MB")
    if a.check:
        ok = rate >= 20e6
        print(f"target: at least 20 million particle-steps per second: {'met' if ok else 'MISSED'} ({rate / 1e6:.1f} million)")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
