"""Lorenz-96 with model error (chapter 70): adaptive multiple inflation against fixed inflation and EnKF-N.

The truth is integrated with forcing F = 8; the forecast model with F_model in (8: perfect, 7, 9), and a fourth case with
the model's F = 8 but additive noise (sd `--noise`) on the truth at every step. Every variable is observed with unit
error at every step (the chapter's set-up); square-root filter, N = 24 members. Methods (`run_l96`):

- none: no inflation;
- fixed: multiplicative inflation of the analysis anomalies, the factor chosen from `--grid` by the lowest RMSE on a
  separate tuning run (seed 100: its own truth, observations and ensemble), never on the scored runs;
- theta: maximum-likelihood theta every cycle (mu = 1; smooth 0.02, the default);
- multi: theta and mu by maximum likelihood (the chapter's multiple inflation, as MCAS);
- enkf_n, enkf_n_xN2: the finite-size EnKF-N (Bocquet 2011; Bocquet et al. 2015), hyperprior confidence xN = 1 and 2.

Scored runs: seeds `--seeds`, `--steps` steps of which `--burn` are left out; the table gives, per case and method,
the time-mean analysis RMSE and spread (mean over seeds, and the worst seed's RMSE), the mean theta, the fixed factor
chosen, and how many seeds the divergence check flagged.

    .venv/bin/python benchmarks/l96_model_error.py --out nbs/results/70_enkf/l96_model_error.csv   # the chapter's table
    .venv/bin/python benchmarks/l96_model_error.py --steps 400 --burn 100 --seeds 0 --tune-steps 300   # a quick look
"""
import argparse, sys, time, warnings
import pandas as pd

CASES = {"perfect (F 8)": dict(F_model=8.0), "model F 7": dict(F_model=7.0), "model F 9": dict(F_model=9.0),
         "truth noise": dict(F_model=8.0, truth_noise=None)}       # truth_noise: --noise
METHODS = {"none": dict(inflation="fixed", infl=1.0), "fixed": dict(inflation="fixed"), "theta": dict(inflation="theta"),
           "multi": dict(inflation="multi"), "enkf_n": dict(inflation="enkf_n"), "enkf_n_xN2": dict(inflation="enkf_n", xN=2.0)}


def sweep(steps=1500, burn=500, seeds=(0, 1, 2), N=24, grid=(1.0, 1.02, 1.05, 1.1, 1.15, 1.2, 1.3, 1.5, 1.75),
          tune_steps=1000, tune_burn=300, tune_seed=100, noise=0.2, progress=True):
    "The sweep (see the module's text): (table of scores, table of the tuning runs)."
    from carbonflux_nb.inversion.enkf import FilterDivergenceWarning, run_l96
    from carbonflux_nb.workflows import progress_bar
    jobs = [("tune", c, "fixed", f, tune_seed) for c in CASES for f in grid] + \
           [("score", c, m, None, s) for c in CASES for m in METHODS for s in seeds]
    tune, rows, best = [], [], {}
    for kind, case, meth, f, seed in progress_bar(jobs, disable=not progress, desc="L96 model error"):
        env = {k: (noise if v is None else v) for k, v in CASES[case].items()}
        opts = dict(METHODS[meth]); infl = opts.pop("infl", None)
        if kind == "tune": infl = f
        elif meth == "fixed":
            if case not in best:
                t = pd.DataFrame([r for r in tune if r["case"] == case])
                best[case] = float(t.infl[t.rmse.idxmin()])
            infl = best[case]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FilterDivergenceWarning)
            r = run_l96("sqrt", N, 1.0 if infl is None else infl, steps=tune_steps if kind == "tune" else steps,
                        burn=tune_burn if kind == "tune" else burn, seed=seed, **env, **opts)
        rec = {"case": case, "method": meth, "infl": infl, "seed": seed, "rmse": r["rmse"], "spread": r["spread"],
               "theta_mean": r["theta_mean"], "diverged": int(not r["ok"])}
        (tune if kind == "tune" else rows).append(rec)
    per = pd.DataFrame(rows)
    table = per.groupby(["case", "method"], sort=False).agg(
        rmse=("rmse", "mean"), rmse_worst=("rmse", "max"), spread=("spread", "mean"), theta_mean=("theta_mean", "mean"),
        infl=("infl", "first"), diverged=("diverged", lambda v: f"{int(v.sum())}/{len(v)}")).reset_index()
    table.insert(1, "F_model", table.case.map(lambda c: CASES[c]["F_model"]))
    table.insert(2, "truth_noise", table.case.map(lambda c: noise if "truth_noise" in CASES[c] else 0.0))
    return table, pd.DataFrame(tune)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500); ap.add_argument("--burn", type=int, default=500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--tune-steps", type=int, default=1000); ap.add_argument("--noise", type=float, default=0.2)
    ap.add_argument("--out", help="also write the table to this CSV (atomically), and the tuning runs next to it (_tuning.csv)")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    table, tune = sweep(a.steps, a.burn, tuple(a.seeds), tune_steps=a.tune_steps, tune_burn=min(300, a.tune_steps // 3), noise=a.noise)
    print(f"Lorenz-96, truth F 8, square root N 24, {a.steps} steps ({a.burn} burn-in), seeds {a.seeds}; means over seeds")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if a.out:
        from carbonflux_nb.io import atomic_output
        with atomic_output(a.out) as tmp: table.to_csv(tmp, index=False)
        with atomic_output(a.out.replace(".csv", "_tuning.csv")) as tmp: tune.to_csv(tmp, index=False)
    print(f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
