"""Lorenz-96 evidence for the default of `EnkfConfig.smooth` / `L96Config.smooth` (chapter 70): the weight of each
cycle's maximum-likelihood inflation estimate against the running value (log space; 1: each cycle's own estimate).

For each filter (square root and stochastic, N = 24 members; the square root also at N = 10, below the size where
Lorenz-96 without localisation works) and smooth in (1, 0.3, 0.1, 0.05, 0.02, 0.01): `run_l96(..., inflation="multi")`
on a few seeds; the table gives the time-mean analysis RMSE and spread after the burn-in (mean over seeds), the
fraction of cycles with theta within 1 % of a bound (0.5, 50), the longest run of such cycles, and how many seeds the
divergence check (`check_divergence`) flagged.

    .venv/bin/python benchmarks/l96_inflation_smooth.py                  # about 3 minutes on one core
    .venv/bin/python benchmarks/l96_inflation_smooth.py --out nbs/results/70_enkf/l96_smooth.csv   # the table chapter 70 shows
    .venv/bin/python benchmarks/l96_inflation_smooth.py --steps 600 --seeds 0   # a quick look
"""
import argparse, sys, time, warnings
import numpy as np
import pandas as pd


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500); ap.add_argument("--burn", type=int, default=500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--smooth", type=float, nargs="+", default=[1.0, 0.3, 0.1, 0.05, 0.02, 0.01])
    ap.add_argument("--out", help="also write the table to this CSV (atomically)")
    a = ap.parse_args(argv)
    from carbonflux_nb.inversion.enkf import INFLATION_BOUNDS, FilterDivergenceWarning, run_l96
    lo, hi = INFLATION_BOUNDS["theta"]
    rows, t0 = [], time.perf_counter()
    for method, N in (("sqrt", 24), ("stochastic", 24), ("sqrt", 10)):
        for s in a.smooth:
            per = []
            for seed in a.seeds:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FilterDivergenceWarning)
                    r = run_l96(method, N, inflation="multi", smooth=s, steps=a.steps, burn=a.burn, seed=seed)
                th = r["theta_series"]
                at = (np.abs(np.log(th / lo)) <= np.log1p(0.01)) | (np.abs(np.log(th / hi)) <= np.log1p(0.01))
                runs = np.diff(np.flatnonzero(np.r_[True, ~at, True])) - 1
                per.append({"rmse": r["rmse"], "spread": r["spread"], "theta_mean": r["theta_mean"], "at_bound": at[a.burn:].mean(),
                            "longest_at_bound": int(runs.max()), "diverged": int(not r["ok"])})
            m = pd.DataFrame(per)
            rows.append({"method": method, "N": N, "smooth": s, "rmse": m.rmse.mean(), "rmse_worst": m.rmse.max(), "spread": m.spread.mean(),
                         "theta_mean": m.theta_mean.mean(), "at_bound": m.at_bound.mean(), "longest_at_bound": m.longest_at_bound.max(),
                         "diverged": f"{m.diverged.sum()}/{len(m)}"})
            print(f"  {method} N={N} smooth {s:g}: rmse {m.rmse.mean():.3f} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    print(f"Lorenz-96, inflation='multi', {a.steps} steps ({a.burn} burn-in), seeds {a.seeds}; means over seeds "
          f"(rmse_worst: the worst seed; at_bound: fraction of cycles after the burn-in with theta within 1 % of {lo:g} or {hi:g})")
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if a.out:
        from carbonflux_nb.io import atomic_output
        with atomic_output(a.out) as tmp: table.to_csv(tmp, index=False)
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
