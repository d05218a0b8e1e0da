"""Analytical inversion benchmark: carbonflux_nb's Cholesky/whitened solver against the textbook formula (chapter 60), and
the CH4 Europe station inversion of chapter 64 at full footprint resolution.

1. The honest baseline, Kronecker prior (N = 2,000 states = 10 months x 200 cells, 500 km and 1-month correlation
   lengths, M = 10,000 observations, dense H 5 % non-zero, diagonal So):
     textbook-kron    x = xa + inv(H' inv(So) H + inv(Sa)) H' inv(So) (y - H xa) as a practitioner writes it: inv(So)
                      applied as 1 / so (no M x M matrix), Sa the dense Kronecker product, the two N x N inverses by numpy
     carbonflux-kron  `invert(form="state")`: with M >= 2N the Kronecker path, A = I + L' (H' So^-1 H) L with the data's
                      normal matrix by BLAS dsyrk and the prior's factors applied to it by reshaping (H L never made),
                      one Cholesky, two triangular solves
2. Diagonal So and Sa, N = 4,000, M = 20,000: `textbook-diagSo` (as above, diagonal prior) against `invert`; with
   --textbook also the literal formula with So as a dense M x M matrix (about 2 minutes and 12 GB: `--check` needs it).
3. Scaling of `invert` with the Kronecker prior (10 months x N/10 cells) for N in --scaling at M = 20,000.
4. The CH4 Europe problem of chapter 64 (ACRG's NAME footprints for Mace Head and Tacolneston, Feb-Mar 2014, 293 x 391
   cells, December 2013 prior, N, E, S, W boundary scale factors): the test files hold 12 footprints, so each site's
   are replicated to one every 12 hours (2 sites x 59 days x 2 = 236 observations by default, --ch4-m), each copy multiplied cell by cell
   by a lognormal factor (sd 0.3 in log) so the rows are not copies; timed as problem building (jacobian) and solving,
   at full resolution (every cell and month a scale factor: N = 229,130, the observation form) and aggregated to
   ACRG's five sub-transd basis regions (N = 14, the state form). Needs the development data folder (skipped without).

Each method runs in its own fresh Python process (so peak memory is its own), on the same seeded inputs.

    .venv/bin/python benchmarks/inversion_bench.py [--scaling 1000 4000 8000] [--ch4-m 236] [--textbook] [--check]

--check (implies --textbook) exits 1 unless carbonflux is at least 10 times faster than the literal `textbook` with the
same posterior mean to 1e-8 (relative to the largest increment). Peak memory is the process's maximum resident set
minus its size after the inputs were made.
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _rss_mb():
    with open("/proc/self/statm") as f: return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _inputs(n, m, seed=0):
    r = np.random.default_rng(seed)
    H = np.empty((m, n))
    for a in range(0, m, 1000):                          # in blocks, so making H needs little more memory than H
        b = min(a + 1000, m)
        H[a:b] = r.exponential(1e-3, size=(b - a, n)) * (r.random((b - a, n)) < 0.05)
    xa = r.normal(-0.5, 1.0, n)
    sd = 0.5 * np.abs(xa) + 0.05
    so = r.uniform(0.8, 2.0, m) ** 2
    x_true = xa + sd * r.standard_normal(n)
    y = H @ x_true + np.sqrt(so) * r.standard_normal(m)
    return H, xa, sd, so, y


def _grid(n_cells):
    "Cell centres of a roughly square patch of 1-degree cells (for the spatial correlation)."
    k = int(np.ceil(np.sqrt(n_cells)))
    lat, lon = np.meshgrid(20.5 + np.arange(k), 90.5 + np.arange(k), indexing="ij")
    return lat.ravel()[:n_cells], lon.ravel()[:n_cells]


def _ch4_inputs(m, seed=0):
    "Chapter 64's CH4 Europe pieces with each site's footprints replicated to m // 2 per site (see the docstring): (obs, fp, bc, flux, basis)."
    import pandas as pd
    import xarray as xr

    from carbonflux_nb.atmos.readers import boundary_contribution, read_boundary_curtains, read_name_boundary, read_name_footprint
    from carbonflux_nb.core import data_path
    from carbonflux_nb.inputs import real_input
    ri = lambda name: real_input("ch4_europe_2014/" + name)
    r = np.random.default_rng(seed)
    times = pd.date_range("2014-02-01", "2014-03-31 23:00", periods=m // 2)
    fps, bcs, rows = [], [], []
    for site, h in (("MHD", "10magl"), ("TAC", "100magl")):
        src = {}
        for mon in ("02", "03"):
            f = ri(f"{site}-{h}_EUROPE_2014{mon}.nc")
            src[mon] = (read_name_footprint(f), boundary_contribution(read_name_boundary(f), read_boundary_curtains(ri(f"ch4_EUROPE_2014{mon}.nc")),
                                                                      basis=ri("NESW_EUROPE_2014.nc")))
        for k, t in enumerate(times):
            fp, bc = src[f"{t.month:02d}"]
            j = k % fp.sizes["time"]
            fps.append(fp.values[j] * np.exp(0.3 * r.standard_normal(fp.values[j].shape) - 0.045)); bcs.append(bc.values[j])
        rows.append(pd.DataFrame({"time": times, "site": site, "value": 1.9e-6 + 2e-8 * r.standard_normal(times.size), "uncertainty": 5e-9}))
    lat, lon = src["02"][0].lat.values, src["02"][0].lon.values
    fp = xr.DataArray(np.stack(fps), {"lat": lat, "lon": lon}, ("obs", "lat", "lon"), attrs={"units": "(mol/mol)/(mol/m2/s)"})
    flux = xr.open_dataset(data_path("inversion", "ch4_EUROPE_201312_acrg.nc")).flux.load()
    basis = xr.open_dataset(ri("sub-transd_EUROPE_2000.nc")).basis.load()
    return pd.concat(rows, ignore_index=True), fp, np.stack(bcs), flux, basis


def run_ch4(case, m, out):
    from carbonflux_nb.inversion.problem import FluxState, InversionProblem
    obs, fp, bc, flux, basis = _ch4_inputs(m)
    base = _rss_mb()
    t0 = time.perf_counter()
    st = FluxState({"total": flux}, ["2014-02", "2014-03"], basis=basis if case == "ch4-basis" else None, uncertainty=0.5)
    pb = InversionProblem(obs, st, fp, boundary=bc, boundary_sd=0.1, mismatch={"MHD": 5e-9, "TAC": 1e-8})
    H, _ = pb.jacobian()
    t1 = time.perf_counter()
    res = pb.solve()
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(out, np.stack([res.x, res.xa]))
    print(json.dumps({"case": case, "n": int(res.posterior.n), "m": len(obs), "seconds": t2 - t0, "build_s": t1 - t0, "solve_s": t2 - t1,
                      "form": res.posterior.form, "h_nnz": int(H.nnz), "peak_mb": peak - base, "inputs_mb": base}))


def run_case(case, n, m, out, warm=True):
    if case.startswith("ch4"): return run_ch4(case, m, out)
    from carbonflux_nb.inversion.bayes import DiagPrior, invert, kron_prior  # imports not timed
    if warm: run_case(case, 20, 60, None, warm=False)        # a tiny problem first: first calls load LAPACK and friends
    H, xa, sd, so, y = _inputs(n, m)
    if case.endswith("kron"):
        lat, lon = _grid(n // 10)
        kp = kron_prior(sd, lat, lon, 10, length_km=500, tau=1.0)
        Sa_kron = kp.dense() if case.startswith("textbook") else None        # the baseline is handed its dense Sa
    base = _rss_mb()
    t0 = time.perf_counter()
    if case == "textbook":
        inv = np.linalg.inv
        Sa, So = np.diag(sd ** 2), np.diag(so)
        So_i = inv(So)
        HtSoi = H.T @ So_i
        x = xa + inv(HtSoi @ H + inv(Sa)) @ (HtSoi @ (y - H @ xa))
    elif case in ("textbook-diagSo", "textbook-kron"):
        inv = np.linalg.inv
        HtSoi = H.T / so[None, :]
        Sa = Sa_kron if case == "textbook-kron" else np.diag(sd ** 2)
        x = xa + inv(HtSoi @ H + inv(Sa)) @ (HtSoi @ (y - H @ xa))
    elif case == "carbonflux":
        x = invert(H, y, xa, DiagPrior(sd), so, form="state").x
    elif case == "carbonflux-kron":
        x = invert(H, y, xa, kp, so, form="state").x
    else: raise SystemExit(f"unknown case {case}")
    dt = time.perf_counter() - t0
    if out is None: return
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.save(out, np.stack([x, xa]))
    print(json.dumps({"case": case, "n": n, "m": m, "seconds": dt, "peak_mb": peak - base, "inputs_mb": base}))


def spawn(case, n, m, tmp):
    out = Path(tmp) / f"{case}_{n}_{m}.npy"
    p = subprocess.run([sys.executable, __file__, "--case", case, "--n", str(n), "--m", str(m), "--out", str(out)],
                       capture_output=True, text=True)
    if p.returncode: raise SystemExit(f"{case} failed:\n{p.stderr[-2000:]}")
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["x"], res["xa"] = np.load(out)
    return res


def _table(res, ref):
    scale = np.abs(ref["x"] - ref["xa"]).max()
    print(f"{'method':<17} {'seconds':>9} {'peak MB':>9} {'speed-up':>9} {'max |x - x_' + ref['case'] + '| / max |x_' + ref['case'] + ' - xa|':>52}")
    for c, v in res.items():
        rel = np.abs(v["x"] - ref["x"]).max() / scale
        print(f"{c:<17} {v['seconds']:>9.2f} {v['peak_mb']:>9.0f} {ref['seconds'] / v['seconds']:>8.2f}x {rel:>52.1e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=4000); ap.add_argument("--m", type=int, default=20000)
    ap.add_argument("--kron-n", type=int, default=2000); ap.add_argument("--kron-m", type=int, default=10000)
    ap.add_argument("--scaling", type=int, nargs="*", default=[1000, 4000, 8000])
    ap.add_argument("--ch4-m", type=int, default=236)
    ap.add_argument("--textbook", action="store_true"); ap.add_argument("--check", action="store_true")
    ap.add_argument("--case"); ap.add_argument("--out")
    a = ap.parse_args()
    if a.case: return run_case(a.case, a.n, a.m, a.out)
    print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs; each method in a fresh process")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"\n## 1. N = {a.kron_n:,} states, M = {a.kron_m:,} observations, Kronecker prior: against the honest textbook")
        res = {c: spawn(c, a.kron_n, a.kron_m, tmp) for c in ("textbook-kron", "carbonflux-kron")}
        _table(res, res["textbook-kron"])
        print(f"\n## 2. N = {a.n:,} states, M = {a.m:,} observations, dense H, diagonal So and Sa")
        cases = (("textbook",) if a.textbook or a.check else ()) + ("textbook-diagSo", "carbonflux")
        res = {c: spawn(c, a.n, a.m, tmp) for c in cases}
        ref = res[cases[0]]
        _table(res, ref)
        speed = ref["seconds"] / res["carbonflux"]["seconds"]
        rel = np.abs(res["carbonflux"]["x"] - ref["x"]).max() / np.abs(ref["x"] - ref["xa"]).max()
        if a.scaling:
            print(f"\n## 3. scaling: invert(form='state') with a Kronecker prior (10 months x N/10 cells), M = {a.m:,}")
            print(f"{'N':>7} {'seconds':>9} {'peak MB':>9} {'H MB':>7} {'a dense Sa would be, MB':>24}")
            for n in a.scaling:
                v = spawn("carbonflux-kron", n, a.m, tmp)
                print(f"{n:>7,} {v['seconds']:>9.2f} {v['peak_mb']:>9.0f} {a.m * n * 8 / 2 ** 20:>7.0f} {n * n * 8 / 2 ** 20:>24.0f}")
        print(f"\n## 4. CH4 Europe (chapter 64): MHD + TAC, Feb-Mar 2014, 293 x 391 cells, footprints replicated to M = {a.ch4_m}")
        from carbonflux_nb.config import get_settings
        if not (get_settings().data_dir / "inversion_real").exists(): print("skipped: needs the development data folder (inversion_real)")
        else:
            print(f"{'state':<32} {'N':>8} {'M':>5} {'form':>6} {'H non-zeros':>12} {'build s':>8} {'solve s':>8} {'peak MB':>8}")
            for c, what in (("ch4-full", "every cell x month + 4 boundary"), ("ch4-basis", "5 sub-transd regions x month + 4")):
                v = spawn(c, 0, a.ch4_m, tmp)
                print(f"{what:<32} {v['n']:>8,} {v['m']:>5} {v['form']:>6} {v['h_nnz']:>12,} {v['build_s']:>8.2f} {v['solve_s']:>8.2f} {v['peak_mb']:>8.0f}")
    if a.check:
        ok = speed >= 10 and rel <= 1e-8
        print(f"\ntarget: >= 10x faster than the textbook formula, same mean to 1e-8: {'met' if ok else 'MISSED'} ({speed:.1f}x, {rel:.1e})")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
