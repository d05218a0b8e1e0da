"""Chapter 74's observation table with columns: TCCON and sounding builders, the column operator on the Eulerian grid,
a mixed table through the filter (Kalman posterior, one mu per kind), and malformed tables."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from carbonflux_nb.atmos.columns import read_gosat_cci, read_oco2_lite_modes, write_gosat_cci_example, write_oco2_lite_example
from carbonflux_nb.atmos.readers import lite_operator, read_oco2_lite, read_tccon
from carbonflux_nb.core import InputError, MissingDataError
from carbonflux_nb.datasets import data_path
from carbonflux_nb.inversion.mcas_real import (OPERATOR_COLUMNS, REAL_OBS_TYPES, SIGMA_EDGES_5, McasRealConfig, check_obs_table,
                                              level_pressure_weights, obs_table, offset_sensitivity, relevel_columns, run_mcas_real,
                                              sounding_obs, table_operator, tccon_obs)
from carbonflux_nb.twin.atmos import atmos_grid
from carbonflux_nb.twin.observing import pressure_weights

TCCON = data_path("inversion") / "tccon_hw20230402_20230402.public.qc.nc"
LITE1 = data_path("inversion") / "oco2_lite_b11_binned_20150131_single_sounding.nc"
G = atmos_grid(45.0, 45.0, sigma_edges=SIGMA_EDGES_5)                  # 4 x 8 cells, five layers


@pytest.fixture(scope="module")
def tc(): return read_tccon(TCCON)

@pytest.fixture(scope="module")
def cols(tc):
    "The real TCCON month and the real OCO-2 sounding as table rows (month index 0)."
    return tccon_obs(tc, "2023-04-01", 1), sounding_obs(read_oco2_lite(LITE1), G, "2015-01-01", 1)

def _table(cols, n:int, seed:int) -> pd.DataFrame:
    q = np.random.default_rng(seed); at = lambda: dict(lat=q.uniform(-80, 80, n), lon=q.uniform(-180, 180, n), t=0, validation=False)
    ins = pd.concat([pd.DataFrame({"kind": k, "altitude": 10.0, "value": 0.0, "uncertainty": 0.3, **at()}) for k in ("continuous", "flask")])
    return obs_table(ins, *[pd.concat([c] * n, ignore_index=True).assign(uncertainty=0.5, **at()) for c in cols])


def test_tccon_rows(tc):
    rows = tccon_obs(tc, "2023-03-01", 3)
    assert rows.t.tolist() == [1] and rows.n_records.item() == tc.sizes["time"]            # April is month 1 of three
    r = rows.iloc[0]
    assert r.ak.size == r.pressure.size == r.apriori.size == 51 and abs(r.pressure_weight.sum() - 1) < 1e-12
    assert r.uncertainty == pytest.approx(np.sqrt((tc.xco2_error.values ** 2).mean() / 64 + 0.8 ** 2), rel=1e-9)
    bare = tccon_obs(tc.drop_vars(["ak_xco2", "prior_co2"]), "2023-04-01", 1)             # no kernel: the standard operator
    assert bare.ak.item() is None
    op = table_operator(obs_table(bare), G)
    np.testing.assert_allclose(op.vw[0], pressure_weights(G)); assert op.c0[0] == 0.0


def test_level_pressure_weights():
    np.testing.assert_allclose(level_pressure_weights([100.0, 500.0, 800.0, 1000.0]), [0.3, 0.35, 0.25, 0.1])   # any order


@pytest.mark.parametrize("modes", [("LN", "LG"), ("OG",)])
def test_sounding_superobs(tmp_path, modes):
    snd = read_oco2_lite_modes(write_oco2_lite_example(tmp_path / "l.nc4", n=24, seed=2), modes=modes)
    rows = sounding_obs(snd, atmos_grid(1.0, 1.0, sigma_edges=SIGMA_EDGES_5), "2015-01-01", 1, floor=0.0)
    assert rows.n_records.sum() == snd.sizes["sounding"] and (rows.kind == "satellite").all()
    assert np.average(rows.value, weights=rows.n_records) == pytest.approx(snd.xco2.values.mean(), rel=1e-12)
    many = rows.n_records.values > 1; assert many.any()
    assert (rows.uncertainty[many] < snd.xco2_uncertainty.values.min()).all()              # floor 0: the random part averages down
    assert set(rows.lat % 1) == {0.5}                                                       # at cell centres


def test_gosat_species_and_units(tmp_path):
    gos = read_gosat_cci(write_gosat_cci_example(tmp_path / "g.nc", n=6))
    with pytest.raises(InputError, match="the soundings are CH4, the table is for CO2"): sounding_obs(gos, G, "2013-01-01", 1)
    rows = sounding_obs(gos, G, "2013-01-01", 1, species="ch4", floor=0.0)
    assert rows.value.between(1.7, 1.9).all() and rows.apriori.iloc[0].max() < 2.0            # ppm (mol/mol x 1e6)


def test_operator_matches_lite_operator(cols):
    prof = 400 + 6 * G.sigma
    op = table_operator(obs_table(cols[1]), G)
    got = op.apply(np.broadcast_to(prof[:, None, None], G.shape)[None])[0]
    snd = read_oco2_lite(LITE1)
    assert got == pytest.approx(lite_operator(snd, G.sigma[None] * snd.pressure_levels.values.max(), prof[None])[0], abs=1e-6)
    w = offset_sensitivity(obs_table(*cols))
    assert 0.9 < w[0] < 1.0 and 0.5 < w[1] < 1.1                                               # sum h a, not 1


def _linear_problem(table, n_members=400, **kw):
    r = np.random.default_rng(3)
    toy = xr.DataArray(r.uniform(0.5, 1.5, (3, 1, 4, 8)) * np.array([-1e-8, 2e-8, 3e-8])[:, None, None, None], dims=("component", "time", "lat", "lon"),
                       coords={"component": ["ocean", "land", "fossil"], "time": pd.to_datetime(["2010-01-01"]).values, "lat": G.lat, "lon": G.lon})
    M = r.uniform(0, 1, (np.prod(G.shape), 32)) * 2e7
    op = table_operator(table, G)
    H = lambda flux, k: op.apply((flux.reshape(len(flux), -1) @ M.T).reshape(1, len(flux), *G.shape))
    cfg = McasRealConfig(n_members=n_members, inflation="none", bands=(-90.0, -45.0, 0.0, 90.0), spinup_months=0)
    f0 = lambda c, b: toy.sel(component=c).values[0] * b
    rows = [(G.lat >= s) & (G.lat < n) for s, n in zip(cfg.bands[:-1], cfg.bands[1:])]
    B = [f0(c, m[:, None]) for c in ("ocean", "land") for m in rows]
    fixed = toy.sel(component="fossil").values[0]
    a0 = H(fixed[None], 0)[:, 0]
    Gm = np.c_[np.stack([H((fixed + b)[None], 0)[:, 0] - a0 for b in B], 1), offset_sensitivity(table)]
    return toy, H, cfg, a0, Gm, r


def test_mixed_table_is_kalman(cols):
    t = _table(cols, 3, 5)
    toy, H, cfg, a0, Gm, r = _linear_problem(t)
    L = Gm.shape[1] - 1; x = np.r_[r.uniform(0.3, 1.7, L), 0.4]
    t["value"] = a0 + Gm @ x + t.uncertainty * r.standard_normal(len(t))
    res = run_mcas_real(t, H, toy, "2010-01-01", 1, cfg)
    Pb, R = np.diag([0.25] * L + [1.0]), np.diag(t.uncertainty ** 2); xb = np.r_[np.ones(L), 0.0]
    K = Pb @ Gm.T @ np.linalg.inv(Gm @ Pb @ Gm.T + R); xa = xb + K @ (t.value - a0 - Gm @ xb)
    sa = np.sqrt(np.diag((np.eye(L + 1) - K @ Gm) @ Pb))
    assert np.all(np.abs(np.r_[res.lam[0], res.offset[0]] - xa) < 0.25 * sa)
    assert {c for c in res.cycles if c.startswith("n_")} == {"n_insitu", "n_flask", "n_tccon", "n_satellite"}


def test_one_mu_per_kind(cols):
    t = _table(cols, 60, 6)
    toy, H, cfg, a0, Gm, r = _linear_problem(t)
    scale = {"continuous": 1.0, "flask": 1.0, "tccon": 2.0, "satellite": 0.5}
    t["value"] = a0 + Gm @ np.r_[r.uniform(0.3, 1.7, Gm.shape[1] - 1), 0.4] + t.uncertainty * t.kind.map(scale) * r.standard_normal(len(t))
    res = run_mcas_real(t, H, toy, "2010-01-01", 1, cfg, n_members=100, inflation="multi", smooth=1.0, bounds={"theta": (0.1, 10.0), "mu": (0.05, 20.0)})
    mu = res.cycles.filter(like="mu_").iloc[0]
    assert len(mu) == 4
    for k, v in scale.items(): assert 0.5 < mu[f"mu_{REAL_OBS_TYPES[k]}"] / v ** 2 < 2.0


def test_station_only_table_keeps_two_groups(cols):
    t = _table(cols, 3, 1); t = t[~t.kind.isin(["tccon", "satellite"])].reset_index(drop=True)
    toy, H, cfg, *_ = _linear_problem(t, n_members=20)
    res = run_mcas_real(t.assign(value=1.0), H, toy, "2010-01-01", 1, cfg)
    assert [c for c in res.cycles if c.startswith("mu_")] == ["mu_insitu", "mu_flask"]


def _set(t, col, i, v):
    t = t.copy(); t[col] = t[col].astype(object); t.at[t.index[i], col] = v; return t

BAD = {   # name: (make the table bad, error type, message)
    "no kind": (lambda t: t.drop(columns="kind"), InputError, r"lacks columns \['kind'\]"),
    "no t": (lambda t: t.drop(columns="t"), InputError, r"lacks columns \['t'\]"),
    "no value": (lambda t: t.drop(columns="value"), InputError, r"lacks columns \['value'\]"),
    "no uncertainty": (lambda t: t.drop(columns="uncertainty"), InputError, r"lacks columns \['uncertainty'\]"),
    "no validation": (lambda t: t.drop(columns="validation"), InputError, r"lacks columns \['validation'\]"),
    "unknown kind": (lambda t: _set(t, "kind", 0, "lidar"), InputError, r"unknown kinds \['lidar'\]"),
    "NaN value": (lambda t: _set(t, "value", 2, np.nan), MissingDataError, r"NaN or non-numeric values in 'value', e.g. row 2"),
    "NaN error": (lambda t: _set(t, "uncertainty", 1, np.nan), MissingDataError, r"in 'uncertainty', e.g. row 1"),
    "text value": (lambda t: _set(t, "value", 0, "400 ppm"), MissingDataError, r"non-numeric values in 'value'"),
    "zero error": (lambda t: t.assign(uncertainty=0.0), InputError, r"non-positive errors in 'uncertainty'"),
    "negative error": (lambda t: _set(t, "uncertainty", 3, -0.5), InputError, r"non-positive errors in 'uncertainty', e.g. row 3"),
    "fractional t": (lambda t: t.assign(t=0.5), InputError, r"'t' must be a month index"),
    "negative t": (lambda t: t.assign(t=-1), InputError, r"'t' must be a month index"),
    "short ak": (lambda t: _set(t, "ak", -1, t.ak.iloc[-1][:-1]), InputError, r"'ak' has 50 levels, 'pressure' 51"),
    "short apriori": (lambda t: _set(t, "apriori", -1, t.apriori.iloc[-1][:3]), InputError, r"'apriori' has 3 levels"),
    "NaN ak": (lambda t: _set(t, "ak", -1, np.r_[np.nan, t.ak.iloc[-1][1:]]), MissingDataError, r"'ak' has NaN values"),
    "ak only missing": (lambda t: _set(t, "ak", -1, None), InputError, r"'ak' is missing while"),
    "weights sum": (lambda t: _set(t, "pressure_weight", -1, 2 * t.pressure_weight.iloc[-1]), InputError, r"pressure weights sum to 2.0000"),
    "negative pressure": (lambda t: _set(t, "pressure", -1, -t.pressure.iloc[-1]), InputError, r"pressures must be > 0"),
}

@pytest.mark.parametrize("name", list(BAD))
def test_malformed_table(cols, name):
    t = obs_table(pd.DataFrame({"kind": ["continuous", "flask", "continuous", "flask"], "t": 0, "lat": -40.0, "lon": 140.0, "value": 390.0,
                                "uncertainty": 0.5, "validation": False}), cols[0])        # the TCCON row last
    make, err, msg = BAD[name]
    with pytest.raises(err, match=msg) as e: check_obs_table(make(t))
    assert e.value.variable in {"kind", "t", "value", "uncertainty", "validation", *OPERATOR_COLUMNS}


def test_filter_checks_table(cols):
    t = _table(cols, 1, 0)
    toy, H, cfg, *_ = _linear_problem(t, n_members=10)
    with pytest.raises(InputError, match=r"run_mcas_real: unknown kinds \['oco2'\]"): run_mcas_real(t.assign(kind="oco2"), H, toy, "2010-01-01", 1, cfg)


def test_builder_errors(tc, cols, tmp_path):
    with pytest.raises(InputError, match="no spectrum from 2020-01 to 2020-02") as e: tccon_obs(tc, "2020-01-01", 2)
    assert e.value.variable == "time" and "tccon_hw20230402" in str(e.value)
    bad = tc.drop_vars("prior_co2").assign(prior_co2=(("time", "prior_level"), tc.prior_co2.values[:, :40]))
    with pytest.raises(InputError, match="prior_co2 has 40 levels, ak_xco2 51"): tccon_obs(bad, "2023-04-01", 1)
    with pytest.raises(InputError, match="no variable 'xco2_error'"): tccon_obs(tc.drop_vars("xco2_error"), "2023-04-01", 1)
    with pytest.raises(InputError, match="no good sounding from 2016-01"): sounding_obs(read_oco2_lite(LITE1), G, "2016-01-01", 1)
    with pytest.raises(InputError, match="neither 'xco2'"): sounding_obs(tc.drop_vars("xco2"), G, "2023-04-01", 1)
    with pytest.raises(InputError, match="no a priori profile to relevel"): relevel_columns(cols[0].assign(**{c: None for c in OPERATOR_COLUMNS}), 0, 390.0)
    moved = relevel_columns(cols[0], 2, 390.0)
    r = moved.iloc[0]
    assert (r.pressure_weight * r.apriori).sum() == pytest.approx(390.0) and r.t == 2
    assert r.value - 390.0 == pytest.approx(cols[0].value.item() - (cols[0].pressure_weight.item() * cols[0].apriori.item()).sum())


def test_sounding_regional_grid(tmp_path):
    snd = read_oco2_lite(write_oco2_lite_example(tmp_path / "l.nc4", n=24, seed=2))        # latitudes 40 to 41.15
    reg = atmos_grid(0.5, 0.5, sigma_edges=SIGMA_EDGES_5, bbox=(100.0, 120.0, 40.0, 40.5))
    rows = sounding_obs(snd, reg, "2015-01-01", 1)
    assert 0 < rows.n_records.sum() == (snd.lat.values <= 40.5).sum() < snd.sizes["sounding"]
    with pytest.raises(InputError, match="inside the grid"): sounding_obs(snd, atmos_grid(1.0, 1.0, bbox=(0.0, 10.0, 0.0, 10.0)), "2015-01-01", 1)


def test_configs_share_the_filter_options():
    "McasConfig and McasRealConfig derive from McasFilterConfig and keep their own defaults where they differ."
    from carbonflux_nb.inversion.mcas import MCAS_BOUNDS, McasConfig, McasFilterConfig
    from carbonflux_nb.inversion.mcas_real import REAL_BOUNDS
    assert issubclass(McasConfig, McasFilterConfig) and issubclass(McasRealConfig, McasFilterConfig)
    a, b = McasConfig(), McasRealConfig()
    assert (a.bounds, a.seed, b.bounds, b.seed) == (MCAS_BOUNDS, None, REAL_BOUNDS, 0)
    assert (b.smooth, b.lam_forecast, b.spinup_months) == (0.3, "carbontracker", 1) and not hasattr(b, "localization")


@pytest.mark.parametrize("smooth", [1.0, 0.3])
def test_cycle_inflation_smoothing(smooth):
    "The month's estimate is blended with the previous factors in log space with weight `smooth` on the new one."
    from carbonflux_nb.inversion.mcas import cycle_inflation
    q = np.random.default_rng(3); HE = q.normal(size=(40, 16)); r = np.full(40, 0.5); types = np.repeat([0, 1], 20)
    y = HE.mean(1) + 2.0 * q.normal(size=40)                          # innovations larger than the spread and errors explain
    c = McasRealConfig(inflation="multi")
    th0, mu0 = 1.5, np.array([0.8, 1.2])
    est = cycle_inflation(c, HE, y, r, types, 2, th0, mu0)
    th, mu, ok, _, spread = cycle_inflation(c, HE, y, r, types, 2, th0, mu0, smooth=smooth)
    assert ok and spread == pytest.approx(np.sqrt((HE.var(1, ddof=1) / r).mean()))
    assert np.log(th) == pytest.approx((1 - smooth) * np.log(th0) + smooth * np.log(est[0]), rel=1e-9)
    np.testing.assert_allclose(np.log(mu), (1 - smooth) * np.log(mu0) + smooth * np.log(est[1]), rtol=1e-9)
    assert est[0] > 1.5 * th0 or np.any(est[1] > 1.5 * mu0)           # the estimate moved: the blend is not trivially the start


@pytest.mark.parametrize("make", ["McasConfig", "McasRealConfig", "run_mcas_real"])
def test_lam_forecast_checked_by_the_shared_config(make):
    "The lambdas' forecast is checked once, by McasFilterConfig, for both filters (directly or through run_mcas_real's options)."
    from carbonflux_nb.inversion.mcas import McasConfig
    call = {"McasConfig": lambda: McasConfig(lam_forecast="weekly"), "McasRealConfig": lambda: McasRealConfig(lam_forecast="weekly"),
            "run_mcas_real": lambda: run_mcas_real(None, None, None, "2010-01-01", 1, lam_forecast="weekly")}[make]
    with pytest.raises(InputError, match="lam_forecast must be 'carbontracker' or 'persistence', got 'weekly'") as e: call()
    assert e.value.variable == "lam_forecast"
