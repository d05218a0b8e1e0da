"""Eulerian transport benchmark: member-steps per second of the finite-volume twin (chapter 51).

Runs the model for a few simulated days at 4 x 5 degrees and 10 levels with 1, 16 and 64 members (one
vectorised ensemble each), after a warm-up that loads the numba kernels, and extrapolates to one simulated
year (2,920 three-hour steps). Members share the winds, so the cost per member falls as the ensemble grows.

    .venv/bin/python benchmarks/eulerian_bench.py [--days 5] [--members 1 16 64] [--check]

--check exits 1 if 64 members would need 10 minutes or more for a simulated year (the issue's target).
"""
import argparse, os, platform, sys, time
import numpy as np
from carbonflux_nb.twin.atmos import atmos_grid, WindField
from carbonflux_nb.atmos.eulerian import EulerianModel


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--days", type=float, default=5.0)
    p.add_argument("--members", type=int, nargs="+", default=[1, 16, 64])
    p.add_argument("--check", action="store_true")
    a = p.parse_args()
    grid = atmos_grid(4.0, 5.0)
    model = EulerianModel(grid, WindField())
    K, J, I = grid.shape
    steps = int(round(a.days * 8))
    flux = lambda t, n: np.ones((J, I))
    model.run(np.full((K, J, I), 400.0), "2018-01-01", steps=2, n_members=2, progress=False)      # warm-up: numba kernels
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs; grid {K} x {J} x {I}, dt 3 h, {steps} steps ({a.days:g} days) per run")
    print(f"{'members':>8} {'seconds':>9} {'member-steps/s':>15} {'s per step':>11} {'year (2920 steps), min':>23}")
    year = {}
    for E in a.members:
        t0 = time.perf_counter()
        model.run(np.full((K, J, I), 400.0), "2018-01-01", steps=steps, flux=flux, n_members=E, output_every=8, progress=False)
        dt = time.perf_counter() - t0
        year[E] = dt / steps * 2920 / 60
        print(f"{E:>8} {dt:>9.2f} {E * steps / dt:>15.1f} {dt / steps:>11.3f} {year[E]:>23.1f}")
    if a.check and 64 in year:
        ok = year[64] < 10
        print(f"target: a simulated year with 64 members in under 10 minutes: {'met' if ok else 'MISSED'} ({year[64]:.1f} min)")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
