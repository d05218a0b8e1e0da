"""Chapter 67 (CO2 at Tacolneston with an observed background) on a small synthetic world where the answer is known,
its guards, the stored run's consistency, and chapter 64's solve-order fix. The real-data check is skipped without the inputs."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from carbonflux_nb.core import InputError, MissingDataError
from carbonflux_nb.inversion.problem import FluxState, InversionProblem
from carbonflux_nb.inversion.real_co2_tac import (TacCo2Config, TacCo2Inputs, bin_footprints, contributions, observed_background,
                                                   afternoon_means, fit_stats, run_tac_co2, tac_co2_at_hand, tac_co2_problem, load_tac_co2)
from carbonflux_nb.atmos.stations import read_crds_text

ROOT = Path(__file__).resolve().parents[1]
LAT, LON = np.array([52.0, 52.5, 53.0]), np.array([0.5, 1.0, 1.5])
BG, TRUE = 390.0, {"respiration": 0.7, "gpp": 1.5}
HEAD = ("Created:  6 Jan 22 08:30 GMT\n     -      -         -    -       ch4     ch4   ch4       co2     co2   co2 \n"
        "  date   time      type port         C   stdev     N         C   stdev     N \n")


def _field(times, values, name):
    return xr.DataArray(values, {"time": pd.DatetimeIndex(times), "lat": LAT, "lon": LON}, ("time", "lat", "lon"),
                        attrs={"units": "mol m-2 s-1", "source_file": name})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    "Footprints for 1-4 July 2014, four fluxes (two in other years), and a CRDS record made from them with factors TRUE."
    r = np.random.default_rng(3)
    ft = pd.date_range("2014-07-01", "2014-07-04", freq="h")
    fp = xr.DataArray(r.uniform(0.01, 0.2, (len(ft), 3, 3)), {"time": ft, "lat": LAT, "lon": LON}, ("time", "lat", "lon"),
                      attrs={"units": "ppm per (umol m-2 s-1)", "source_file": "synthetic footprints"})
    rt = pd.date_range("2014-06-30", "2014-07-04", freq="2h")
    fluxes = {"respiration": _field(rt, r.uniform(2e-6, 4e-6, (len(rt), 3, 3)), "resp"),
              "gpp": _field(["2013-01-01"], -r.uniform(0.5e-6, 1e-6, (1, 3, 3)), "gpp"),
              "ocean": _field(["2014-07-01"], np.full((1, 3, 3), -1e-8), "ocean"),
              "fossil": _field(["2018-01-01"], np.full((1, 3, 3), 2e-7), "fossil")}
    inp0 = TacCo2Inputs(None, fp, fluxes, {})
    c = contributions(inp0)
    enh = (c.respiration * TRUE["respiration"] + c.gpp * TRUE["gpp"] + c.ocean + c.fossil) * 1e6      # ppm per release hour
    assert (enh > 0).all()                                                                        # so the window's minimum is BG
    rows = []
    for h in pd.date_range("2014-06-27", "2014-07-07 23:00", freq="h"):
        v = BG + (enh[h] if h in enh.index else 0.0)
        rows += [f"{(h + pd.Timedelta(minutes=m)):%y%m%d %H%M%S}       air    9   1900.00   0.169    19    {v:.6f}   0.010    19" for m in range(5, 25)]
    p = tmp_path_factory.mktemp("crds") / "tac.picarro.1minute.100m.201407.dat"
    p.write_text(HEAD + "\n".join(rows) + "\n")
    return TacCo2Inputs(read_crds_text(p, "co2"), fp, fluxes, {})


def test_forward_is_background_plus_direct_sums(world):
    pb = tac_co2_problem(world, bg_percentile=0)
    np.testing.assert_allclose(pb.background, BG * 1e-6, rtol=1e-12)                 # the window's minimum: a day without enhancement
    fp = pb.footprints.values
    direct = [np.einsum("ij,ij->", fp[i], sum(world.fluxes[c].sel(time=t, method="ffill").values if c == "respiration" else world.fluxes[c].values[0]
                                             for c in world.fluxes)) for i, t in enumerate(pb.obs.time)]
    np.testing.assert_allclose(pb.forward() - pb.background, direct, rtol=1e-10)
    assert len(pb.obs) == 12 and set(pb.obs.time.dt.hour) == {12, 13, 14, 15}          # afternoons only: 11:xx has too few minutes


@pytest.mark.parametrize("freq,n_state", [("M", 2), ("D", 6)])
def test_recovers_the_true_factors(world, freq, n_state):
    out = run_tac_co2(world, bg_percentile=0, uncertainty=10.0, mismatch_ppm=1e-4, freq=freq)
    f = out["factors"]
    assert len(f) == n_state
    for c, v in TRUE.items(): np.testing.assert_allclose(f[f.component == c].posterior, v, rtol=1e-3)
    assert out["stats"]["posterior_rmse_ppm"] < 1e-3 < out["stats"]["prior_rmse_ppm"]
    np.testing.assert_allclose(out["stats"]["dfs"], n_state, rtol=1e-3)


def test_background_is_a_percentile_of_the_window(world):
    m = afternoon_means(world.co2)
    t = pd.Timestamp("2014-07-02 13:00")
    w = m.value[(m.index >= t - pd.Timedelta("1D")) & (m.index <= t + pd.Timedelta("1D"))].to_numpy()
    for q in (0, 10, 50, 100): np.testing.assert_allclose(observed_background(m, [t], 2.0, q), np.percentile(w, q), rtol=1e-12)
    assert observed_background(m, [t], 2.0, 10) <= observed_background(m, [t], 2.0, 50)


def test_footprints_binned_to_the_averaging_period(world):
    b = bin_footprints(world.footprints, pd.to_datetime(["2014-07-01 12:00"]), "2h")
    np.testing.assert_allclose(b.values[0], world.footprints.sel(time=["2014-07-01 12:00", "2014-07-01 13:00"]).mean("time").values, rtol=1e-12)
    assert b.dims == ("obs", "lat", "lon") and fit_stats([1e-6, 2e-6, 3e-6], [1e-6, 2e-6, 3e-6])["rmse_ppm"] == 0


@pytest.mark.parametrize("options,err,says", [
    ({"period": "90min"}, InputError, "variable 'period': averaging period 0 days 01:30:00 is not a whole multiple of the footprints' 0 days 01:00:00"),
    ({"bg_percentile": -5}, InputError, "variable 'percentile': percentile -5 is not in [0, 100]"),
    ({"bg_window_days": 0}, InputError, "variable 'window_days': window_days 0 must be > 0"),
    ({"bg_window_days": 0.1}, MissingDataError, "afternoon means within +- 0.05 days of 2014-07-01 12:00:00 (at least 3 needed)"),
    ({"freq": "fortnight"}, InputError, "variable 'freq': freq 'fortnight' is not a pandas period"),
    ({"solve": ("wetlands",)}, InputError, "solved components ['wetlands'] are not among the fluxes"),
    ({"bg_method": "curtain"}, InputError, "unknown option(s) ['bg_method'] for run_tac_co2"),
    ({"min_n": 50}, MissingDataError, "no afternoon means between 2014-07-01 00:00:00 and 2014-07-04 00:00:00")])
def test_bad_options_are_refused(world, options, err, says):
    with pytest.raises(err) as e: run_tac_co2(world, **options)
    assert says in str(e.value)


def test_a_flux_that_ends_too_early_is_refused(world):
    short = dict(world.fluxes, respiration=world.fluxes["respiration"].sel(time=slice(None, "2014-07-02")))
    with pytest.raises(MissingDataError, match=r"file resp, variable 'time': observation time 2014-07-03 12:00:00 is 0 days 14:00:00 after the last flux time 2014-07-02 22:00:00"):
        run_tac_co2(TacCo2Inputs(world.co2, world.footprints, short, {}))


def test_solved_components_follow_the_fluxes_order():
    "Chapter 64: H's blocks follow the fluxes' order, so the states must too, whatever order `solve` names them in."
    f = lambda v: xr.DataArray(np.full((1, 2, 2), v), {"time": pd.to_datetime(["2014-07-01"]), "lat": LAT[:2], "lon": LON[:2]},
                               ("time", "lat", "lon"), attrs={"units": "mol/m2/s"})
    fp = xr.DataArray(np.ones((3, 2, 2)), {"lat": LAT[:2], "lon": LON[:2]}, ("obs", "lat", "lon"), attrs={"units": "(mol/mol)/(mol/m2/s)"})
    obs = pd.DataFrame({"time": pd.to_datetime(["2014-07-01 12:00"] * 3), "site": "T", "value": 6e-6, "uncertainty": 1e-8})
    st = FluxState({"a": f(1e-6), "b": f(1e-9)}, ["2014-07"], solve=("b", "a"), basis=xr.zeros_like(fp.isel(obs=0), dtype=int), uncertainty=1.0)
    res = InversionProblem(obs, st, fp).solve()
    assert st.solve == ("a", "b")
    np.testing.assert_allclose(res.elements("a").posterior, 1.5, rtol=1e-3)          # 'a' carries the signal: 4 x 1e-6 x 1.5 = 6e-6
    np.testing.assert_allclose(res.elements("b").posterior, 1.0, atol=1e-3)


def test_stored_run_is_of_the_chapters_defaults():
    d = ROOT / "nbs" / "results" / "67_real_co2_tac"
    s = json.loads((d / "summary.json").read_text())
    cfg = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(TacCo2Config()).items()}
    assert s["config"] == cfg
    sens = pd.read_csv(d / "sensitivity.csv")
    assert len(sens) == 30 and (sens.posterior_rmse_ppm < sens.prior_rmse_ppm).all()
    assert not {"observed", "value"} & set(pd.read_csv(d / "factors.csv").columns)     # no observed values stored (the record's terms)


@pytest.mark.skipif(not tac_co2_at_hand(), reason="the real TAC inputs are not at hand")
def test_real_run_equals_the_stored_one():
    out = run_tac_co2(load_tac_co2())
    s = json.loads((ROOT / "nbs" / "results" / "67_real_co2_tac" / "summary.json").read_text())["stats"]
    for k in ("dfs", "chi2", "prior_rmse_ppm", "posterior_rmse_ppm", "background_mean_ppm"):
        np.testing.assert_allclose(out["stats"][k], s[k], rtol=1e-6)
