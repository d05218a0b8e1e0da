"""Analytical inversion benchmark: carbonflux_nb's Cholesky/whitened solver against the textbook formula (chapter 60).

Problem: N state elements, M observations, a dense H (footprint-like: 5 % non-zero, exponential values), a
diagonal So, a prior with 50 % uncertainty. Each method runs in its own fresh Python process (so peak memory is
its own), on the same seeded inputs:

  textbook         x = xa + inv(H' inv(So) H + inv(Sa)) H' inv(So) (y - H xa), every inverse by numpy.linalg.inv
                   and So and Sa as the dense matrices the formula names
  textbook-diagSo  the same, but inv(So) applied as 1 / so (the diagonal exploited); inv of the two N x N matrices kept
  carbonflux       `inversion.bayes.invert(form="state")`: G = H L, syrk, Cholesky, two triangular solves

and a scaling table of `invert` with a Kronecker prior (10 months x N/10 cells, 500 km and 1-month correlation
lengths; the N x N prior never formed) for N = 1,000 / 4,000 / 16,000 at the same M.

    .venv/bin/python benchmarks/inversion_bench.py [--n 4000] [--m 20000] [--scaling 1000 4000 16000] [--check]

--check exits 1 unless carbonflux is at least 10 times faster than `textbook` with the same posterior mean to
1e-8 (relative to the largest increment). Peak memory is the process's maximum resident set minus its size after
the inputs were made.
"""
import argparse, json, os, platform, resource, subprocess, sys, tempfile, time
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


def run_case(case, n, m, out, warm=True):
    if case.startswith("carbonflux"): from carbonflux_nb.inversion.bayes import invert, DiagPrior, kron_prior   # imports not timed
    if warm: run_case(case, 20, 60, None, warm=False)        # a tiny problem first: first calls load LAPACK and friends
    H, xa, sd, so, y = _inputs(n, m)
    base = _rss_mb()
    t0 = time.perf_counter()
    if case == "textbook":
        inv = np.linalg.inv
        Sa, So = np.diag(sd ** 2), np.diag(so)
        So_i = inv(So)
        HtSoi = H.T @ So_i
        x = xa + inv(HtSoi @ H + inv(Sa)) @ (HtSoi @ (y - H @ xa))
    elif case == "textbook-diagSo":
        inv = np.linalg.inv
        HtSoi = H.T / so[None, :]
        x = xa + inv(HtSoi @ H + inv(np.diag(sd ** 2))) @ (HtSoi @ (y - H @ xa))
    elif case == "carbonflux":
        x = invert(H, y, xa, DiagPrior(sd), so, form="state").x
    elif case == "carbonflux-kron":
        lat, lon = _grid(n // 10)
        x = invert(H, y, xa, kron_prior(sd, lat, lon, 10, length_km=500, tau=1.0), so, form="state").x
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=4000); ap.add_argument("--m", type=int, default=20000)
    ap.add_argument("--scaling", type=int, nargs="*", default=[1000, 4000, 16000])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--case"); ap.add_argument("--out")
    a = ap.parse_args()
    if a.case: return run_case(a.case, a.n, a.m, a.out)
    print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} CPUs; each method in a fresh process")
    with tempfile.TemporaryDirectory() as tmp:
        print(f"\n## N = {a.n:,} states, M = {a.m:,} observations, dense H, diagonal So and Sa")
        res = {c: spawn(c, a.n, a.m, tmp) for c in ("textbook", "textbook-diagSo", "carbonflux")}
        ref = res["textbook"]
        scale = np.abs(ref["x"] - ref["xa"]).max()
        print(f"{'method':<17} {'seconds':>9} {'peak MB':>9} {'speed-up':>9} {'max |x - x_textbook| / max |x_textbook - xa|':>46}")
        for c, v in res.items():
            rel = np.abs(v["x"] - ref["x"]).max() / scale
            print(f"{c:<17} {v['seconds']:>9.2f} {v['peak_mb']:>9.0f} {ref['seconds'] / v['seconds']:>8.1f}x {rel:>46.1e}")
        speed = ref["seconds"] / res["carbonflux"]["seconds"]
        rel = np.abs(res["carbonflux"]["x"] - ref["x"]).max() / scale
        if a.scaling:
            print(f"\n## scaling: invert(form='state') with a Kronecker prior (10 months x N/10 cells), M = {a.m:,}")
            print(f"{'N':>7} {'seconds':>9} {'peak MB':>9} {'H MB':>7} {'a dense Sa would be, MB':>24}")
            for n in a.scaling:
                v = spawn("carbonflux-kron", n, a.m, tmp)
                print(f"{n:>7,} {v['seconds']:>9.2f} {v['peak_mb']:>9.0f} {a.m * n * 8 / 2 ** 20:>7.0f} {n * n * 8 / 2 ** 20:>24.0f}")
    if a.check:
        ok = speed >= 10 and rel <= 1e-8
        print(f"\ntarget: >= 10x faster than the textbook formula, same mean to 1e-8: {'met' if ok else 'MISSED'} ({speed:.1f}x, {rel:.1e})")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
