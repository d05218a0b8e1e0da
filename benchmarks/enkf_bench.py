"""EnKF analysis benchmark (chapter 70): carbonflux_nb's ensemble-space update with maximum-likelihood multiple
inflation, against a straightforward implementation that forms the state covariance.

Problem: n state elements, p observations of two types (half "in situ", half "satellite", each an interpolation
of 4 state elements: a sparse H), m members, seeded. Methods, each on the same inputs:

  ensemble space   `inversion.enkf.enkf_analysis(method="sqrt", inflation="fixed")`: S' R^-1 S (m x m), its eigendecomposition;
                   and the same with `inflation="multi"` (theta, mu_1, mu_2 estimated by maximum likelihood first):
                   the estimate's extra time is the difference
  straightforward  P = A A' / (m - 1) formed (n x n), K = P H' (H P H' + R)^-1 by a p x p solve, the mean updated
                   by K d and the anomalies by the square-root transform; run where P fits in memory

    .venv/bin/python benchmarks/enkf_bench.py [--n 100000] [--p 10000] [--m 64] [--straight 2000 5000 10000] [--cycle-members 64] [--check]

Then one MCAS filter cycle on the twin (chapter 71): the forecast of --cycle-members members over 7 days (the
batched Eulerian model) and the analysis (inflation estimate and the seven regional updates), timed apart.

The estimate's cost is `Analysis.seconds_estimate` (the likelihood maximisation; the pass over the observations
is shared with the update). --check exits 1 unless the estimate adds at most 25 % to the analysis at the full size, and the
ensemble-space mean agrees with the straightforward one to 1e-8 (relative) at every size where both ran.
"""
import argparse, sys, time
import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_info


def _inputs(n, p, m, seed=0):
    r = np.random.default_rng(seed)
    E = 400 + r.normal(0, 1, (n, m)) * (1 + 0.5 * np.sin(np.arange(n) / 50))[:, None]
    cols = r.integers(0, n, (p, 4)); w = r.random((p, 4)); w /= w.sum(1, keepdims=True)
    H = sp.csr_matrix((w.ravel(), (np.repeat(np.arange(p), 4), cols.ravel())), shape=(p, n))
    types = (np.arange(p) >= p // 2).astype(int)
    r_var = np.where(types == 0, 0.5, 1.5) ** 2
    A = E - E.mean(1, keepdims=True)
    truth = E.mean(1) + np.sqrt(2.0) * A @ r.standard_normal(m) / np.sqrt(m - 1)   # forecast error in the ensemble span, theta = 2
    y = H @ truth + np.sqrt(r_var * np.where(types == 0, 1.5, 0.7)) * r.standard_normal(p)   # misreported errors
    return E, H, y, r_var, types


def _straightforward(E, H, y, r_var):
    n, m = E.shape
    xm = E.mean(1); A = E - xm[:, None]
    P = A @ A.T / (m - 1)                                          # the state covariance, n x n
    HP = (H @ P)                                                   # p x n
    C = HP @ H.T + np.diag(r_var)                                  # p x p
    K = np.linalg.solve(C, HP).T                                   # n x p
    xa = xm + K @ (y - H @ xm)
    Y = H @ A; S = Y / np.sqrt(m - 1)
    lam, V = np.linalg.eigh((S / r_var[:, None]).T @ S)
    return xa[:, None] + A @ ((V / np.sqrt(1 + np.clip(lam, 0, None))) @ V.T)


def _time(f, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter(); out = f(); best = min(best, time.perf_counter() - t)
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000); ap.add_argument("--p", type=int, default=10_000); ap.add_argument("--m", type=int, default=64)
    ap.add_argument("--straight", type=int, nargs="*", default=[2000, 5000, 10000])
    ap.add_argument("--cycle-members", type=int, default=64, help="members of the MCAS cycle (0: skip it)")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args(argv)
    from carbonflux_nb.inversion.enkf import enkf_analysis
    print(f"BLAS: {[(i['internal_api'], i['num_threads']) for i in threadpool_info()]}; m = {a.m}, p = {a.p}")
    rows, ok = [], True
    for n in sorted(set(a.straight + [a.n])):
        E, H, y, r_var, types = _inputs(n, a.p, a.m)
        HE = np.asarray(H @ E)
        t_fix, an = _time(lambda: enkf_analysis(E, HE, y, r_var, types, n_types=2, method="sqrt", inflation="fixed"), repeat=5)
        t_ml, am = _time(lambda: enkf_analysis(E, HE, y, r_var, types, n_types=2, method="sqrt", inflation="multi"), repeat=5)
        t_est = min(enkf_analysis(E, HE, y, r_var, types, n_types=2, method="sqrt", inflation="multi").seconds_estimate for _ in range(5))
        row = {"n": n, "ensemble_s": t_fix, "with_ml_s": t_ml, "estimate_s": t_est, "ml_extra_%": 100 * t_est / t_fix,
               "theta": am.theta, "mu": np.round(am.mu, 2).tolist(), "straight_s": np.nan, "ratio": np.nan, "max_rel_diff": np.nan}
        if n in a.straight:
            t_s, Es = _time(lambda: _straightforward(E, H, y, r_var), repeat=1)
            inc = np.abs(Es.mean(1) - E.mean(1)).max()
            row.update(straight_s=t_s, ratio=t_s / t_fix, max_rel_diff=float(np.abs(Es.mean(1) - an.E.mean(1)).max() / inc))
            ok &= row["max_rel_diff"] < 1e-8
        rows.append(row)
        print(f"n={n:>7}: ensemble space {t_fix:7.3f} s, with ML inflation {t_ml:7.3f} s, the estimate {t_est:.4f} s (+{row['ml_extra_%']:5.1f} %; theta {am.theta:.2f}, "
              f"mu {row['mu']}), straightforward {row['straight_s']:8.3f} s (x{row['ratio']:.0f}), mean agrees to {row['max_rel_diff']:.1e}", flush=True)
    print("\n| n states | analysis, ensemble space (s) | with ML inflation (s) | the estimate (s) | estimate / analysis | straightforward, P formed (s) | ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        st = "not run (P would need %.0f GB)" % (r["n"] ** 2 * 8 / 1e9) if np.isnan(r["straight_s"]) else f"{r['straight_s']:.2f}"
        ra = "" if np.isnan(r["ratio"]) else f"{r['ratio']:.0f}x"
        print(f"| {r['n']:,} | {r['ensemble_s']:.3f} | {r['with_ml_s']:.3f} | {r['estimate_s']:.4f} | {r['ml_extra_%']:.0f} % | {st} | {ra} |")
    if a.cycle_members:
        from carbonflux_nb.inversion.mcas import build_mcas_twin, run_mcas
        tw = build_mcas_twin(n_weeks=1, window_days=7, progress=False)
        t = time.perf_counter()
        r = run_mcas(tw, "both", 0, n_members=a.cycle_members, step_days=7, insitu_days=7, sat_days=7, progress=False)
        tot = time.perf_counter() - t
        f, an = r.seconds["forecast"], r.seconds["analysis"]
        n_obs = int(r.cycles.n_insitu.iloc[0] + r.cycles.n_satellite.iloc[0])
        print(f"\nMCAS cycle, {a.cycle_members} members, 7 days, {n_obs} observations, state {tw.grid.shape} field + {tw.regs.n_lam} lambdas:")
        print(f"| total (s) | forecast (s) | analysis (s) | forecast share |\n|---:|---:|---:|---:|\n| {tot:.1f} | {f:.1f} | {an:.1f} | {f / (f + an):.0%} |")
    full = [r for r in rows if r["n"] == a.n][0]
    ok &= full["ml_extra_%"] <= 25
    if a.check and not ok: print("CHECK FAILED"); sys.exit(1)


if __name__ == "__main__":
    main()
