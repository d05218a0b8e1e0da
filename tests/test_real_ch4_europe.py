"""The CH4 Europe worked example (chapter 65, inversion.real_ch4_europe) on small synthetic pieces: the evenly spread
withheld split, the country basis, the problem's options and their errors, and the summary's invariants. The real
files are exercised by the chapter and its run notebook."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from carbonflux_nb.core import InputError
from carbonflux_nb.inversion.real_ch4_europe import (Ch4EuropePieces, build_problem, constraint_lines, load_pieces,
                                                     summarise, _check_release, _release_height)
from carbonflux_nb.inversion.problem import withheld_fraction

LAT, LON = np.arange(48.25, 61, 0.5), np.arange(-11.75, 4, 0.5)       # the British Isles on 0.5 degrees


def _obs(n_a=6, n_b=4):
    t = list(pd.date_range("2014-02-01", periods=n_a, freq="5D")) + list(pd.date_range("2014-02-02", periods=n_b, freq="9D"))
    return pd.DataFrame({"time": t, "site": ["MHD"] * n_a + ["TAC"] * n_b})


@pytest.mark.parametrize("fraction", [0.0, 0.25, 1 / 3, 0.5, 0.75])
def test_withheld_fraction_is_spread_per_site(fraction):
    obs = _obs(12, 8)
    w = withheld_fraction(obs, fraction)
    shuffled = obs.sample(frac=1, random_state=0)                                # rows out of time order, index labels shuffled
    np.testing.assert_array_equal(withheld_fraction(shuffled, fraction), w[shuffled.index.to_numpy()])   # one flag per row, by position
    for site, n in (("MHD", 12), ("TAC", 8)):
        assert w[obs.site.values == site].sum() == int(np.floor(n * fraction + 1e-9))
    if fraction == 0.5:                                                          # every second of each site in time order, the first used
        np.testing.assert_array_equal(w.nonzero()[0], np.r_[np.arange(1, 12, 2), np.arange(13, 20, 2)])


@pytest.mark.parametrize("fraction", [1.0, -0.1])
def test_withheld_fraction_refuses_outside_0_1(fraction):
    with pytest.raises(InputError, match=r"variable 'withheld': the withheld fraction must be in \[0, 1\)"):
        withheld_fraction(_obs(), fraction)


@pytest.fixture(scope="module")
def pieces():
    "Two sites, February-March, 8 observations on the 0.5-degree British Isles grid; labels: west (0) and east (1) of 3 W."
    r = np.random.default_rng(3)
    m = 8
    obs = _obs(4, 4).assign(time=lambda d: d.time + pd.to_timedelta(np.r_[0, 0, 30, 30, 0, 0, 30, 30], "D"))
    fp = xr.DataArray(r.uniform(0, 0.01, (m, LAT.size, LON.size)), {"lat": LAT, "lon": LON}, ("obs", "lat", "lon"), attrs={"units": "(mol/mol)/(mol/m2/s)"})
    prior = xr.DataArray(r.uniform(1e-9, 1e-8, (1, LAT.size, LON.size)), {"time": pd.to_datetime(["2013-12-01"]), "lat": LAT, "lon": LON},
                         ("time", "lat", "lon"), attrs={"units": "mol/m2/s"})
    bc = xr.DataArray(r.uniform(0.4e-6, 0.6e-6, (m, 4)), {"region": list("NESW")}, ("obs", "region"))
    truth = np.einsum("ijk,jk->i", fp.values, prior.values[0]) + 0.92 * bc.values.sum(1)
    tab = obs.assign(value=truth + r.normal(0, 3e-9, m), uncertainty=3e-9)
    labels = xr.DataArray(np.where(LON[None, :] < -3, 0, 1) * np.ones((LAT.size, 1), int), {"lat": LAT, "lon": LON}, ("lat", "lon"))
    return Ch4EuropePieces(tab, fp, bc, prior, labels)


def test_country_basis_splits_every_cell_and_keeps_the_prior(pieces):
    (B, names), frac = pieces.regions_for("countries", ["United Kingdom", "Ireland"])
    assert names == ["United Kingdom", "Ireland", "rest 0", "rest 1"]
    np.testing.assert_allclose(np.asarray(B.sum(1)).ravel(), 1.0, atol=1e-9)
    km2 = (frac * xr.DataArray(np.cos(np.deg2rad(LAT))[:, None] * np.ones(LON.size), {"lat": LAT, "lon": LON}, ("lat", "lon"))).sum(("lat", "lon")).values
    assert 3.0 < km2[0] / km2[1] < 3.9                                 # UK about 3.4 times Ireland's land area
    uki = ("United Kingdom", "Ireland")
    pb, _ = build_problem(pieces, countries=uki)                       # countries basis, NESW boundary
    pb0, _ = build_problem(pieces, basis="sub-transd", countries=uki)
    with pytest.raises(InputError, match=r"variable 'countries': countries \['Germany'\] have no cell on this grid \(lat 48.25..60.75"):
        build_problem(pieces, countries=("Ireland", "Germany"))
    np.testing.assert_allclose(pb.forward(), pb0.forward(), rtol=1e-12)   # the split leaves the prior field unchanged


def test_problem_options_and_summary(pieces):
    pb, frac = build_problem(pieces, basis="sub-transd", boundary="one", countries=("United Kingdom", "Ireland"))
    H, states = pb.jacobian()
    assert H.shape == (8, 2 * 2 + 1) and list(states.component.unique()) == ["ch4", "boundary"]
    res = pb.solve(withhold=withheld_fraction(pb.obs, 0.5))
    s = summarise(res, frac)
    c = s["scalars"]
    assert c["n_assimilated"] == 4 and c["n_boundary_states"] == 1
    np.testing.assert_allclose(c["dfs_flux_diag"] + c["dfs_boundary_diag"], c["dfs"], rtol=1e-8)   # kernel diagonal sums to DFS
    np.testing.assert_allclose(s["boundary"].posterior.iat[0], 0.92, atol=0.03)                    # the boundary's 8 % excess found
    assert (s["totals"].posterior_sd <= s["totals"].prior_sd + 1e-15).all()
    assert list(s["series"].columns[:4]) == ["time", "site", "withheld", "observed"] and s["series"].observed.between(1600, 2200).all()  # ppb
    assert constraint_lines(s)[0].startswith("8 observations (4 assimilated) for 5 unknowns")


@pytest.mark.parametrize("options, message", [
    ({"boundary": "edges"}, "boundary 'edges' unknown"),
    ({"basis": "grid"}, "variable 'basis': basis 'grid' unknown"),
    ({"mismatch_ppb": {"MHD": 5.0}}, r"no model-data mismatch for sites \['TAC'\]"),
    ({"prior_sd": 0.3}, r"unknown option\(s\) \['prior_sd'\]"),
    ({"uncertainty": 0.0, "basis": "sub-transd"}, "prior uncertainty must be > 0")])
def test_problem_refuses_bad_options(pieces, options, message):
    with pytest.raises(InputError, match=message):
        build_problem(pieces, **{"countries": ("United Kingdom", "Ireland"), **options})


@pytest.mark.parametrize("kwargs, message", [
    ({"sites": ("MHD", "JFJ")}, r"variable 'sites': unknown sites \['JFJ'\]"),
    ({"prior": "2015"}, "variable 'prior': prior '2015' unknown"),
    ({"months": ("2014-04",)}, r"no footprint or curtain for \['MHD 2014-04', 'TAC 2014-04'\]"),
    ({"months": ("spring",)}, "months must be 'YYYY-MM'")])
def test_load_pieces_refuses_before_reading(kwargs, message):
    with pytest.raises(InputError, match=message):
        load_pieces(**kwargs)


def test_footprint_file_checks(tmp_path):
    with pytest.raises(InputError, match="no release height"):
        _release_height(tmp_path / "MHD_EUROPE_201402.nc")
    assert _release_height(tmp_path / "TAC-100magl_EUROPE_201402.nc") == 100.0
    p = tmp_path / "MHD-10magl_EUROPE_201402.nc"
    xr.Dataset({"release_lat": ("time", [52.5]), "release_lon": ("time", [1.14])}).to_netcdf(p)
    station = pd.DataFrame(); station.attrs = {"site": "MHD", "lat": 53.326, "lon": -9.904}
    with pytest.raises(InputError, match=r"variable 'release_lat': released at \(52.500, 1.140\), but station MHD is at \(53.326, -9.904\)"):
        _check_release(p, station)
    xr.Dataset({"x": ("time", [1.0])}).to_netcdf(p2 := tmp_path / "MHD-10magl_EUROPE_201403.nc")
    with pytest.raises(InputError, match="no release_lat/release_lon"):
        _check_release(p2, station)
