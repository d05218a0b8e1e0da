"""The inversion API of chapter 64 (inversion.problem): a tiny synthetic problem whose posterior is known analytically
(a dense direct formula), scaling and flux kinds, boundary scaling, the withheld split, and errors that name the piece."""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import xarray as xr

from carbonflux_nb.core import GridMismatchError, InputError, MissingDataError, UnitsError, cell_area
from carbonflux_nb.inversion.problem import (FluxState, InversionProblem, MatrixState, stack_footprints,
                                             state_basis, withheld_alternate)

LAT, LON = np.array([10.0, 11.0]), np.array([20.0, 21.0, 22.0])
LABELS = np.array([[0, 0, 1], [1, 2, 2]])


def _flux(a, times):
    return xr.DataArray(a, {"time": pd.DatetimeIndex(times), "lat": LAT, "lon": LON}, ("time", "lat", "lon"), attrs={"units": "mol/m2/s"})


def _pieces(m=8, seed=1):
    r = np.random.default_rng(seed)
    ant = _flux(r.uniform(1e-9, 4e-9, (2, 2, 3)), ["2020-01-01", "2020-02-01"])
    nat = _flux(r.uniform(-1e-9, 1e-9, (1, 2, 3)), ["2020-01-01"])
    fp = xr.DataArray(r.uniform(0, 3, (m, 2, 3)), {"lat": LAT, "lon": LON}, ("obs", "lat", "lon"), attrs={"units": "(mol/mol)/(mol/m2/s)"})
    times = pd.date_range("2020-01-02", "2020-02-28", periods=m)
    obs = pd.DataFrame({"time": times, "site": np.tile(["X", "Y"], m)[:m], "value": 4e-7 + r.normal(0, 5e-9, m), "uncertainty": 3e-9})
    bc = r.uniform(1.9e-7, 2.0e-7, (m, 2))
    return ant, nat, fp, obs, bc


def _dense(pb):
    "Textbook posterior mean and covariance with explicit inverses (the reference)."
    H, _ = pb.jacobian()
    H = H.toarray() if sp.issparse(H) else np.asarray(H)
    Sa, xa = pb._prior.dense(), pb._xa
    y = pb.obs.value.values - pb.background - pb._fixed
    K = Sa @ H.T @ np.linalg.inv(H @ Sa @ H.T + np.diag(pb.so()))
    return xa + K @ (y - H @ xa), Sa - K @ H @ Sa


@pytest.mark.parametrize("kind", ["scaling", "flux"])
@pytest.mark.parametrize("form", ["state", "obs"])
@pytest.mark.parametrize("correlated", [False, True])
def test_posterior_equals_the_dense_formula(kind, form, correlated):
    ant, nat, fp, obs, bc = _pieces()
    basis = xr.DataArray(LABELS, {"lat": LAT, "lon": LON}, ("lat", "lon"))
    st = FluxState({"ant": ant, "nat": nat}, ["2020-01", "2020-02"], solve="ant", kind=kind, basis=basis, uncertainty=0.5,
                   length_km=300.0 if correlated else 0.0, tau=1.0 if correlated else 0.0)
    pb = InversionProblem(obs, st, fp, boundary=bc, boundary_sd=0.05, mismatch={"X": 2e-9, "Y": 4e-9})
    res = pb.solve(form=form)
    x, S = _dense(pb)
    assert res.posterior.form == form
    np.testing.assert_allclose(res.x, x, rtol=1e-8, atol=1e-9 * np.abs(x).max())
    np.testing.assert_allclose(res.posterior.covariance(), S, rtol=1e-6, atol=1e-9 * np.abs(S).max())
    assert res.posterior.n == 2 * 3 + 2 and list(res.states.component.unique()) == ["ant", "boundary"]


def test_forward_model_is_footprint_times_flux_plus_boundary():
    ant, nat, fp, obs, bc = _pieces()
    pb = InversionProblem(obs, FluxState({"ant": ant, "nat": nat}, ["2020-01", "2020-02"], solve="ant"), fp, boundary=bc, background=np.full(len(obs), 1e-8))
    month = obs.time.dt.month.values - 1
    direct = np.einsum("ijk,ijk->i", fp.values, ant.values[month] + nat.values[0]) + bc.sum(1) + 1e-8
    np.testing.assert_allclose(pb.forward(), direct, rtol=1e-12)
    H, states = pb.jacobian()
    assert H.shape == (len(obs), 2 * 6 + 2) and (states.component == "ant").sum() == 12      # no basis: every cell a region


def test_scaling_and_flux_kinds_agree_cell_by_cell():
    ant, _, fp, obs, _ = _pieces()
    fields = [InversionProblem(obs, FluxState({"ant": ant}, ["2020-01", "2020-02"], kind=k, uncertainty=0.3), fp, mismatch=3e-9)
              .solve().flux_fields().posterior.values for k in ("scaling", "flux")]
    np.testing.assert_allclose(fields[0], fields[1], rtol=1e-8)


def test_boundary_scaling_recovers_a_boundary_bias():
    ant, _, fp, obs, _ = _pieces(m=40, seed=3)
    ramp = np.linspace(0, 1, 40)
    bc = np.c_[2e-7 * (0.2 + ramp), 2e-7 * (1.2 - ramp)]                      # two boundary columns that the data can tell apart
    st = FluxState({"ant": ant}, ["2020-01", "2020-02"], basis=(np.ones((6, 1)), ["all"]), uncertainty=0.01)
    truth = InversionProblem(obs, st, fp, boundary=bc).forward(np.r_[1.0, 1.0, 0.9, 1.0])   # the first boundary column 10 % low
    pb = InversionProblem(obs.assign(value=truth), st, fp, boundary=bc, boundary_sd=0.2, mismatch=1e-10)
    b = pb.solve().elements("boundary")
    np.testing.assert_allclose(b.posterior.values, [0.9, 1.0], atol=2e-3)
    assert (b.error_reduction > 0.9).all()


def test_withheld_split_fits_on_the_rest_and_scores_it():
    ant, _, fp, obs, bc = _pieces(m=10)
    w = withheld_alternate(obs)
    assert w.sum() == 4 and not w[obs.groupby("site").head(1).index].any()                 # every second per site; the first used
    st = FluxState({"ant": ant}, ["2020-01", "2020-02"], basis=xr.DataArray(LABELS, {"lat": LAT, "lon": LON}, ("lat", "lon")))
    half = InversionProblem(obs, st, fp, boundary=bc, mismatch=3e-9).solve(withhold="alternate")
    sub = InversionProblem(obs[~w], st, fp.isel(obs=np.flatnonzero(~w)), boundary=bc[~w], mismatch=3e-9).solve()
    np.testing.assert_allclose(half.x, sub.x, rtol=1e-10)
    assert half.fit().n.to_dict() == {("X", "assimilated"): 3, ("X", "withheld"): 2, ("Y", "assimilated"): 3, ("Y", "withheld"): 2}


def test_totals_and_matrix_state():
    ant, _, fp, obs, _ = _pieces()
    res = InversionProblem(obs, FluxState({"ant": ant}, ["2020-01", "2020-02"]), fp, mismatch=3e-9).solve()
    area = cell_area(LAT, LON).values
    t = res.totals(np.ones((2, 3)), names=["all"], molar_mass=16.04)
    tyr = 16.04 * 86400 * 365.25 / 1e12
    np.testing.assert_allclose(t.posterior.values, [(res.flux_fields().posterior.values[0, p] * area).sum() * tyr for p in (0, 1)], rtol=1e-10)
    assert (t.units == "Tg yr-1").all() and (t.posterior_sd < t.prior_sd).all()
    H = np.random.default_rng(0).uniform(0, 1, (len(obs), 4))
    states = pd.DataFrame({"period": ["a", "a", "b", "b"], "lat": [0.0, 1.0, 0.0, 1.0], "lon": [0.0, 0.0, 0.0, 0.0]})
    pb = InversionProblem(obs.assign(value=obs.value * 1e6, uncertainty=0.1), MatrixState(H, states, np.ones(4), 0.5, length_km=200.0, tau=1.0))
    x, _ = _dense(pb)
    np.testing.assert_allclose(pb.solve().x, x, rtol=1e-8)


def _bad(kind):
    ant, nat, fp, obs, bc = _pieces()
    st = FluxState({"ant": ant}, ["2020-01", "2020-02"])
    return {
        "ppb values": lambda: InversionProblem(obs.assign(value=obs.value * 1e9), st, fp),
        "grid": lambda: InversionProblem(obs, st, fp.assign_coords(lon=LON + 0.5)),
        "footprint count": lambda: InversionProblem(obs, st, fp.isel(obs=slice(1, None))),
        "footprint units": lambda: InversionProblem(obs, st, fp.assign_attrs(units="s m3 kg-1")),
        "outside periods": lambda: InversionProblem(obs.assign(time=obs.time - pd.Timedelta("30D")), st, fp),
        "NaN value": lambda: InversionProblem(obs.assign(value=np.where(np.arange(len(obs)) == 2, np.nan, obs.value)), st, fp),
        "NaN footprint": lambda: InversionProblem(obs, st, fp.copy(data=np.where(fp.values > 2.9, np.nan, fp.values))).solve(),
        "zero variance": lambda: InversionProblem(obs.assign(uncertainty=0.0), st, fp).solve(),
        "empty state": lambda: FluxState({"ant": ant}, ["2020-01"], solve=()),
        "empty basis": lambda: state_basis((np.zeros((6, 0)), []), LAT, LON),
        "flux units": lambda: FluxState({"ant": ant.assign_attrs(units="gC m-2 d-1")}, ["2020-01"]),
        "flux grid": lambda: FluxState({"ant": ant, "nat": nat.isel(lat=[0])}, ["2020-01"]),
        "zero prior": lambda: InversionProblem(obs, FluxState({"ant": ant.copy(data=np.zeros_like(ant.values))}, ["2020-01", "2020-02"], kind="flux"), fp).solve(),
        "negative uncertainty": lambda: InversionProblem(obs.assign(uncertainty=-3e-9), st, fp),
        "boundary sd": lambda: InversionProblem(obs, st, fp, boundary=bc, boundary_sd=0.0).solve(),
        "boundary rows": lambda: InversionProblem(obs, st, fp, boundary=bc[:3]),
        "matrix columns": lambda: InversionProblem(obs, MatrixState(np.ones((len(obs), 3)), pd.DataFrame({"period": [0, 0], "lat": [0, 1], "lon": [0, 0]}), np.ones(3), 1.0)),
    }[kind]


@pytest.mark.parametrize("kind, error, match", [
    ("ppb values", UnitsError, "not mole fractions in mol/mol"),
    ("grid", GridMismatchError, "footprints: lon"),
    ("footprint count", GridMismatchError, "7 footprints for 8 observations"),
    ("footprint units", UnitsError, "footprint units 's m3 kg-1'"),
    ("outside periods", MissingDataError, "fall in no state period"),
    ("NaN value", MissingDataError, "obs value has 1 NaN values \\(the first at row 2\\)"),
    ("NaN footprint", MissingDataError, "footprints have \\d+ NaN"),
    ("zero variance", InputError, "zero error variance"),
    ("empty state", InputError, "state would be empty"),
    ("empty basis", InputError, "no regions"),
    ("flux units", UnitsError, "flux 'ant' units"),
    ("flux grid", GridMismatchError, "flux 'nat': lat"),
    ("zero prior", InputError, "set sd_floor > 0"),
    ("negative uncertainty", InputError, "8 negative uncertainties"),
    ("boundary sd", InputError, "boundary prior sds must be > 0"),
    ("boundary rows", GridMismatchError, "boundary has 3 rows for 8 observations"),
    ("matrix columns", GridMismatchError, "H has 3 columns, xa 3 values, states 2 rows"),
])
def test_bad_input_is_named(kind, error, match):
    with pytest.raises(error, match=match):
        _bad(kind)()


def test_two_solved_components_in_any_order():
    ant, nat, fp, obs, _ = _pieces()
    nat = nat.copy(data=np.abs(nat.values) + 1e-10)
    xs = {}
    for order in (("ant", "nat"), ("nat", "ant")):
        pb = InversionProblem(obs, FluxState({"ant": ant, "nat": nat}, ["2020-01", "2020-02"], solve=order, basis=(np.ones((6, 1)), ["all"])), fp, mismatch=3e-9)
        res = pb.solve()
        x, _ = _dense(pb)
        np.testing.assert_allclose(res.x, x, rtol=1e-8)
        xs[order] = res.flux_fields().posterior.sel(component=["ant", "nat"]).values
    np.testing.assert_allclose(xs[("ant", "nat")], xs[("nat", "ant")], rtol=1e-8)


def test_stacked_footprints_make_a_problem():
    ant, _, fp, obs, _ = _pieces(m=6)
    per_site = {s: fp.isel(obs=np.flatnonzero(obs.site.values == s)).rename(obs="time").assign_coords(time=obs.time[obs.site == s].values)
                for s in ("X", "Y")}
    table, stacked = stack_footprints({s: f.isel(time=slice(None, None, -1)) for s, f in per_site.items()})   # given in reverse order
    assert list(table.site) == ["X"] * 3 + ["Y"] * 3 and table.time.is_monotonic_increasing is False
    assert (np.diff(table.time[table.site == "X"].values) > np.timedelta64(0)).all()
    np.testing.assert_array_equal(stacked.values[:3], per_site["X"].values)
    pb = InversionProblem(table.assign(value=4e-7, uncertainty=3e-9), FluxState({"ant": ant}, ["2020-01", "2020-02"]), stacked)
    assert pb.forward().shape == (6,)
    with pytest.raises(GridMismatchError, match="site 'Y''s footprint: lat"):
        stack_footprints({"X": per_site["X"], "Y": per_site["Y"].assign_coords(lat=LAT + 1)})
