"""Hostile input for the inversion entry points (issue 22, points 6 and 7): the analytical inversion (`inversion.bayes.invert`
and its priors), the EnKF analysis (`inversion.enkf`) and its divergence check, and MCAS's localization regions. Each case
asserts the error type and that the message names the variable, or a correct result. Tiny inputs: well under 10 CPU s."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from carbonflux_nb.core import GridMismatchError, InputError, MissingDataError
from carbonflux_nb.inversion.bayes import DensePrior, DiagPrior, invert, kron_prior
from carbonflux_nb.inversion.enkf import FilterDivergenceWarning, check_divergence, enkf_analysis, run_l96

H = np.array([[1.0, 0.2, 0.0], [0.0, 1.0, 0.5]])
Y, XA, SO = np.array([1.0, 2.0]), np.zeros(3), np.array([0.1, 0.2])
PRIOR = DiagPrior(np.ones(3))


def ref():
    "The posterior mean by brute-force Gaussian conditioning."
    Sa = np.eye(3)
    return XA + Sa @ H.T @ np.linalg.solve(H @ Sa @ H.T + np.diag(SO), Y - H @ XA)


def _nan_sparse(fmt):
    Hs = sp.csr_matrix(H); Hs.data[2] = np.nan                                  # H[1, 1]
    return Hs.asformat(fmt)


@pytest.mark.parametrize("fmt", ["csr", "coo"])
def test_sparse_H_with_nan_is_an_error_not_a_nan_posterior(fmt):
    with pytest.raises(MissingDataError, match=r"variable 'H': H has 1 NaN or infinite stored values \(the first at index \(1, 1\)\)"):
        invert(_nan_sparse(fmt), Y, XA, PRIOR, SO)


@pytest.mark.parametrize("make, prior", [(sp.coo_matrix, DensePrior(np.eye(3))), (sp.csc_matrix, PRIOR), (lambda a: a.tolist(), PRIOR)],
                         ids=["coo-dense-prior", "csc-diag-prior", "list-diag-prior"])
def test_any_sparse_format_or_a_list_gives_the_right_posterior(make, prior):
    np.testing.assert_allclose(invert(make(H), Y, XA, prior, SO).x, ref(), rtol=1e-10)


@pytest.mark.parametrize("args, err, msg", [
    (dict(y=[1.0, np.nan]), MissingDataError, r"variable 'y': y has 1 NaN or infinite values \(the first at index 1\)"),
    (dict(H=np.where(H == 0.2, np.nan, H)), MissingDataError, r"variable 'H': H has 1 NaN .*\(0, 1\)"),
    (dict(so=[0.1, -0.2]), InputError, r"variable 'so': 1 non-positive observation error variances \(the first at index 1\)"),
    (dict(y=[1.0, 2.0, 3.0]), GridMismatchError, r"variable 'y': y has 3 values \(shape \(3,\)\) but H has 2 rows \(shape \(2, 3\)\)"),
    (dict(xa=np.zeros(4)), GridMismatchError, r"variable 'xa': xa has 4 values \(shape \(4,\)\) but H has 3 columns"),
    (dict(prior=DiagPrior(np.ones(4))), GridMismatchError, r"variable 'prior': the prior covariance has 4 states but H has 3 columns"),
    (dict(prior=[1.0, 1.0, 1.0]), InputError, r"variable 'prior': prior must be a DiagPrior"),
    (dict(H=np.ones(3)), InputError, r"variable 'H': H must be 2-D .* got shape \(3,\)"),
    (dict(so=np.full(2, 1e-30), form="state"), InputError, r"variable 'so': the state-space normal matrix is numerically singular"),
    (dict(H=np.r_[H, H[:1]], y=[1.0, 2.0, 1.0], so=np.full(3, 1e-30), form="obs"), InputError, r"variable 'so': the obs-space normal matrix is numerically singular"),
], ids=["nan-y", "nan-H", "negative-so", "y-vs-H", "xa-vs-H", "prior-vs-H", "prior-list", "H-1d", "tiny-so-state", "tiny-so-obs"])
def test_invert_refuses_bad_input_naming_the_variable(args, err, msg):
    kw = dict(H=H, y=Y, xa=XA, prior=PRIOR, so=SO) | args
    with pytest.raises(err, match=msg):
        invert(kw.pop("H"), kw.pop("y"), kw.pop("xa"), kw.pop("prior"), kw.pop("so"), **kw)


@pytest.mark.parametrize("make, err, msg", [
    (lambda: DensePrior([[1.0, 2.0], [2.0, 1.0]]), InputError, r"variable 'Sa': Sa is not positive definite"),
    (lambda: DensePrior([[1.0, np.nan], [np.nan, 1.0]]), MissingDataError, r"variable 'Sa': Sa has 2 NaN or infinite values \(the first at index \(0, 1\)\)"),
    (lambda: kron_prior(np.ones(4), [0.0, 1.0], [0.0, 1.0], 2, length_km=-100.0), InputError, r"variable 'length_km': a correlation length must be >= 0"),
], ids=["non-pd-Sa", "nan-Sa", "negative-length"])
def test_priors_refuse_bad_covariances(make, err, msg):
    with pytest.raises(err, match=msg): make()


def test_mcas_localisation_extension_below_zero():
    from carbonflux_nb.inversion.mcas import mcas_regions
    with pytest.raises(InputError, match=r"variable 'extension_km': .* >= 0 km, got -800"):
        mcas_regions(extension_km=-800.0)


_r = np.random.default_rng(0)
E8, HE8 = _r.normal(size=(5, 8)), _r.normal(size=(3, 8))


@pytest.mark.parametrize("args, err, msg", [
    (dict(E=E8[:, :1], HE=HE8[:, :1]), InputError, r"variable 'E': an ensemble needs at least 2 members, got 1"),
    (dict(HE=np.where(np.arange(8) == 3, np.nan, HE8)), MissingDataError, r"variable 'HE': HE has 3 NaN"),   # an operator that returned NaN
    (dict(HE=HE8[:, :6]), GridMismatchError, r"variable 'HE': HE has shape \(3, 6\); expected \(3 observations, 8 members\)"),
    (dict(r=[1.0, -1.0, 1.0]), InputError, r"variable 'r': 1 observation error variances are not positive"),
], ids=["one-member", "nan-HE", "members-mismatch", "negative-r"])
def test_enkf_analysis_refuses_bad_input(args, err, msg):
    kw = dict(E=E8, HE=HE8, y=np.zeros(3), r=np.ones(3)) | args
    with pytest.raises(err, match=msg):
        enkf_analysis(kw.pop("E"), kw.pop("HE"), kw.pop("y"), kw.pop("r"), **kw)


def test_a_diverging_lorenz96_filter_warns_and_says_when():
    "The issue's case, shortened: N=10 square-root filter, theta per step; the ensemble collapses within ~130 steps."
    with pytest.warns(FilterDivergenceWarning, match=r"diverged: the inflation factor theta sat at its lower bound 0.5 .* from cycle \d+"):
        r = run_l96("sqrt", 10, inflation="multi", smooth=1.0, steps=180, burn=50, seed=3000)
    assert not r["ok"] and r["diverged_at"] > 0 and "ensemble collapsed at cycle" in r["message"]


def test_a_healthy_filter_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", FilterDivergenceWarning)
        r = run_l96("sqrt", 24, inflation="multi", steps=150, burn=50, seed=1)
    assert r["ok"] and r["diverged_at"] == -1 and r["rmse"] < 0.5


@pytest.mark.parametrize("spread, theta, cycle, what", [
    (np.r_[np.full(30, 0.3), np.full(5, 0.0)], None, 30, "collapsed at cycle 30"),             # collapsed at the end of a run
    (np.full(60, 0.3), np.r_[np.ones(10), np.full(30, 49.9), np.ones(20)], 10, "upper bound 50 for 30 consecutive cycles from cycle 10"),
], ids=["collapse-at-end", "theta-at-bound"])
def test_check_divergence(spread, theta, cycle, what):
    with pytest.warns(FilterDivergenceWarning, match=what):
        d = check_divergence(spread, theta, where="this run")
    assert not d.ok and d.cycle == cycle and d.message.startswith("this run diverged")
