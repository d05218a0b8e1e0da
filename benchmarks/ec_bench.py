"""Eddy-covariance processing of one site-year (DE-Tha 1998, 17,520 half-hours): time per step.

Each configuration runs in a fresh Python process (so numba's on-disk cache, imports and first-call costs are
what a user sees), once cold and then `--repeat` times warm; the table gives the cold time and the fastest
warm time per step, beside REddyProc 1.3.3's times for the same year as stated in issue 4 (measured by its
author on the 2-core development machine; R is not installed here, so they are quoted, not re-measured).

    .venv/bin/python benchmarks/ec_bench.py            # the table (about 20 s)
    .venv/bin/python benchmarks/ec_bench.py --check    # exit 1 if the whole chain >= 3 s or night-time only >= 1 s (warm)
"""
import argparse, json, os, subprocess, sys

# REddyProc 1.3.3, DE-Tha 1998 (issue 4): u* 0.29 s, NEE MDS 5.2 s, met MDS + night-time 0.83 s, day-time 22.1 s
REDDYPROC = {"ustar": 0.29, "mds_nee": 5.2, "mds_met+nighttime": 0.83, "daytime": 22.1, "total": 28.4}
STEPS = ["check", "ustar", "mds_nee", "mds_met", "nighttime", "daytime", "aggregate"]

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from carbonflux_nb.datasets import load_detha98
from carbonflux_nb.ec.pipeline import process_site
t_import = time.perf_counter() - t0
df = load_detha98()
daytime, repeat = sys.argv[1] == "1", int(sys.argv[2])
runs = []
for i in range(repeat + 1):
    t = time.perf_counter()
    r = process_site(df, 51.0, 13.6, 1, daytime=daytime)
    runs.append({"steps": r.timings, "total": time.perf_counter() - t})
print(json.dumps({"import": t_import, "runs": runs, "annual": r.annual().iloc[0].to_dict(), "ustar": r.meta["ustar"], "E_0": r.meta["E_0"]}))
"""

def measure(daytime: bool, repeat: int) -> dict:
    "Run the chain in a fresh process: import time, cold run, warm runs."
    out = subprocess.run([sys.executable, "-c", CHILD, "1" if daytime else "0", str(repeat)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if out.returncode: raise SystemExit(f"benchmark child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])

def table(res: dict, daytime: bool) -> list:
    "Rows: step, cold, best warm, REddyProc, speed-up."
    cold, warm = res["runs"][0], res["runs"][1:]
    best = {s: min(r["steps"].get(s, float("nan")) for r in warm) for s in STEPS if s in cold["steps"]}
    rows = []
    for s in best:
        rp = REDDYPROC.get(s)
        rows.append((s, cold["steps"][s], best[s], rp, rp / best[s] if rp else None))
    met_nt = best["mds_met"] + best["nighttime"]
    rows.append(("mds_met+nighttime", cold["steps"]["mds_met"] + cold["steps"]["nighttime"], met_nt,
                 REDDYPROC["mds_met+nighttime"], REDDYPROC["mds_met+nighttime"] / met_nt))
    tot = min(r["total"] for r in warm)
    rp_tot = REDDYPROC["total"] if daytime else REDDYPROC["total"] - REDDYPROC["daytime"]
    rows.append(("total", cold["total"], tot, rp_tot, rp_tot / tot))
    return rows

def fmt(v, nd=3): return "" if v is None else f"{v:.{nd}f}"

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="warm runs per configuration (fastest reported)")
    ap.add_argument("--check", action="store_true", help="exit 1 if the targets (3 s whole, 1 s night-time only) are missed")
    a = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; DE-Tha 1998, 17,520 half-hours; "
          f"fastest of {a.repeat} warm runs, each configuration in a fresh process\n")
    ok = True
    for daytime, target, name in [(True, 3.0, "whole chain (u*, MDS, night-time and day-time partitioning)"),
                                  (False, 1.0, "night-time only (u*, MDS, night-time partitioning)")]:
        res = measure(daytime, a.repeat)
        rows = table(res, daytime)
        print(f"## {name}  (import {res['import']:.2f} s)")
        print(f"{'step':<20}{'cold s':>9}{'warm s':>9}{'REddyProc s':>13}{'speed-up':>10}")
        for s, c, w, rp, sp in rows:
            print(f"{s:<20}{fmt(c):>9}{fmt(w):>9}{fmt(rp, 2):>13}{(f'{sp:.0f}x' if sp else ''):>10}")
        warm_total = rows[-1][2]
        hit = warm_total < target
        ok &= hit
        ann = ", ".join(f"{k} {v:.1f}" for k, v in res["annual"].items())
        print(f"target < {target:g} s: {'met' if hit else 'MISSED'} ({warm_total:.3f} s warm, {rows[-1][1]:.3f} s cold); "
              f"u* {res['ustar']:.5f}, E0 {res['E_0']:.2f}; annual gC m-2 yr-1: {ann}\n")
    if a.check and not ok: sys.exit(1)

if __name__ == "__main__": main()
