"""EnKF-N (chapter 70): its ensemble-space analysis against a brute-force minimisation of its dual cost with the
p x p covariance formed; and the model-error options of `run_l96`."""
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from carbonflux_nb.core import InputError
from carbonflux_nb.inversion.enkf import InnovationStats, enkf_analysis, enkf_n_inflation, run_l96


def _brute_theta(HE, y, r, xN):
    "Minimise the EnKF-N dual cost built from p x p matrices (hyperprior coefficients computed here, independently)."
    m = HE.shape[1]
    S = (HE - HE.mean(1, keepdims=True)) / np.sqrt(m - 1); d = y - HE.mean(1)
    lam = np.linalg.eigvalsh(S.T @ np.diag(1 / r) @ S)
    eN, cN = (m + 1) / m, m / (m - 1)
    corr = np.sqrt((eN / cN) ** np.mean(1 / (1 + np.clip(lam, 0, None))))
    eN, cN = xN * eN / corr, xN * cN * corr
    def D(z):
        th = np.exp(z)
        return d @ np.linalg.solve(th * S @ S.T + np.diag(r), d) / (m - 1) + eN / th + cN * np.log(th)
    return float(np.exp(minimize_scalar(D, bounds=(np.log(1e-2), np.log(1e2)), method="bounded", options={"xatol": 1e-9}).x))


@pytest.mark.parametrize("seed,scale,xN", [(0, 1.0, 1.0), (1, 3.0, 1.0), (2, 0.3, 2.0)])
def test_enkf_n_analysis_matches_brute_force(seed, scale, xN):
    g = np.random.default_rng(seed)
    n, m, p = 5, 6, 7
    E = g.normal(size=(n, m)); H = g.normal(size=(p, n)); HE = H @ E
    r = g.uniform(0.5, 2, p); y = HE.mean(1) + scale * g.normal(size=p) * np.sqrt(r)    # innovations of a chosen size
    th = _brute_theta(HE, y, r, xN)
    a = enkf_analysis(E, HE, y, r, inflation="enkf_n", xN=xN)
    assert a.theta == pytest.approx(th, rel=1e-4)
    far = enkf_analysis(E, HE, HE.mean(1) + 5 * (y - HE.mean(1)), r, inflation="enkf_n", xN=xN)
    assert far.theta > 1.05 * a.theta             # larger innovations than the ensemble explains: more inflation
    ref = enkf_analysis(E, HE, y, r, inflation="fixed", theta=th)            # the square-root update with that theta
    np.testing.assert_allclose(a.E, ref.E, rtol=1e-4, atol=1e-6)
    S = (HE - HE.mean(1, keepdims=True)) / np.sqrt(m - 1)
    st = InnovationStats.from_ensemble(S, y - HE.mean(1), r, np.zeros(p, int), 1)
    assert enkf_n_inflation(st, xN) == pytest.approx(th, rel=1e-4)


@pytest.mark.parametrize("opts,match", [(dict(F_model=float("nan")), "F_model.*finite"),
                                        (dict(truth_noise=-0.1), "truth_noise.*>= 0"),
                                        (dict(inflation="enkf_n", xN=0.0), "xN must be a positive"),
                                        (dict(F_modle=7.0), "unknown option")])
def test_run_l96_model_error_options_refused(opts, match):
    with pytest.raises(InputError, match=match):
        run_l96("sqrt", 6, 1.0, steps=2, burn=0, **opts)


def test_run_l96_model_error_changes_the_forecast_only():
    base = run_l96("sqrt", 8, 1.0, steps=6, burn=0)
    same = run_l96("sqrt", 8, 1.0, steps=6, burn=0, F_model=8.0, truth_noise=0.0)   # a perfect model, spelled out
    np.testing.assert_allclose(same["rmse_series"], base["rmse_series"], rtol=1e-12)
    wrong = run_l96("sqrt", 8, 1.0, steps=6, burn=0, F_model=6.0)
    noisy = run_l96("sqrt", 8, 1.0, steps=6, burn=0, truth_noise=0.5)
    assert not np.allclose(wrong["rmse_series"], base["rmse_series"]) and not np.allclose(noisy["rmse_series"], base["rmse_series"])
    n_ok = run_l96("sqrt", 8, 1.0, steps=6, burn=0, inflation="enkf_n")
    assert np.isfinite(n_ok["rmse"]) and (n_ok["theta_series"] > 0).all() and (n_ok["theta_series"] != 1).any()
