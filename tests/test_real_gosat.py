"""Issue 24, point 3 (ii): the GOSAT column inversion over Brazil (chapter 66, inversion.real_gosat) and what it needed
from its building blocks: chapter 55's curtain reader takes a single undated curtain field (and still refuses broken
ones), chapter 64 takes chapter 58b's column-footprint units, the state averaging kernel equals I - Sb Sa^-1, and the
pieces of the real Brazil set join into a problem whose forward model is the direct one."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from carbonflux_nb.atmos.columns import column_forward
from carbonflux_nb.atmos.readers import boundary_contribution, read_boundary_curtains
from carbonflux_nb.core import GridMismatchError, InputError, MissingDataError, UnitsError
from carbonflux_nb.inversion.problem import FluxState, InversionProblem
from carbonflux_nb.inversion.real_gosat import (ColumnOptions, block_labels, brazil_inputs, column_parts, column_pieces,
                                                column_problem, state_averaging_kernel, wetland_mask)

H, LAT, LON = np.array([500.0, 1500.0]), np.array([-10.0, -9.0, -8.0]), np.array([-60.0, -59.0])
EDGES = {"n": "lon", "e": "lat", "s": "lon", "w": "lat"}


def _curtains(value=1.8e-6, time="2016-01-01") -> xr.Dataset:
    "Four undated curtains (height, lon|lat), as openghg's CAMS January 2016 file: a scalar time or none."
    ds = xr.Dataset({f"vmr_{e}": (("height", p), np.full((2, 3 if p == "lat" else 2), value)) for e, p in EDGES.items()},
                    coords={"height": H, "lat": LAT, "lon": LON})
    return ds.assign_coords(time=np.datetime64(time, "ns")) if time else ds


def test_undated_curtains_are_one_field_for_every_time(tmp_path):
    _curtains().to_netcdf(p := tmp_path / "cams_undated.nc")
    c = read_boundary_curtains(p)
    assert c.sizes["time"] == 1 and str(c.time.values[0])[:10] == "2016-01-01" and c.vmr_e.dims == ("time", "height", "lat")
    assert "single curtain field" in c.attrs["time_axis"] and "2016-01-01" in c.attrs["time_axis"]
    _curtains(time=None).to_netcdf(q := tmp_path / "no_time.nc")
    assert "no time coordinate" in read_boundary_curtains(q).attrs["time_axis"]
    # particles at two times in different months (and years): the one field serves both
    frac = {f"particle_locations_{e}": (("time", "height", p), np.full((2, 2, 3 if p == "lat" else 2), 0.1)) for e, p in EDGES.items()}
    pl = xr.Dataset(frac, coords={"time": pd.to_datetime(["2013-01-01", "2013-07-01"]), "height": H, "lat": LAT, "lon": LON})
    np.testing.assert_allclose(boundary_contribution(pl, c).values, 0.1 * 1.8e-6 * 20, rtol=1e-12)


@pytest.mark.parametrize("case, err, want", [
    ("mixed", InputError, "'vmr_e'"),                        # N dated, E, S, W not: not a broadcast
    ("ppb", UnitsError, "not mole fractions in mol/mol"),
    ("two_times", InputError, "2 time values but the curtains have no time dimension"),
])
def test_broken_undated_curtains_are_refused(tmp_path, case, err, want):
    ds = _curtains(1.8e3 if case == "ppb" else 1.8e-6)
    if case == "mixed": ds = ds.assign(vmr_n=ds.vmr_n.expand_dims(time=[ds.time.values])).drop_vars("time")
    if case == "two_times": ds = ds.drop_vars("time").assign_coords(t2=("t2", [0, 1]), time=("t2", pd.to_datetime(["2016-01-01", "2016-02-01"])))
    ds.to_netcdf(p := tmp_path / f"cams_{case}.nc")
    with pytest.raises(err, match=want) as e: read_boundary_curtains(p)
    assert p.name in str(e.value)


def _toy(length_km=300.0, units="(mol/mol)/(mol m-2 s-1)", m=6):
    r = np.random.default_rng(3)
    fl = xr.DataArray(r.uniform(1e-9, 5e-9, (1, 3, 2)), {"time": pd.to_datetime(["2013-01-01"]), "lat": LAT, "lon": LON},
                      ("time", "lat", "lon"), attrs={"units": "mol/m2/s"})
    fp = xr.DataArray(r.uniform(0, 2, (m, 3, 2)), {"lat": LAT, "lon": LON}, ("obs", "lat", "lon"), attrs={"units": units})
    obs = pd.DataFrame({"time": pd.date_range("2013-01-01 15:00", periods=m, freq="1min"), "site": "GOSAT",
                        "value": 1.8e-6 + r.normal(0, 5e-9, m), "uncertainty": 5e-9})
    return InversionProblem(obs, FluxState({"ch4": fl}, ["2013-01"], uncertainty=0.5, length_km=length_km), fp,
                            background=np.full(m, 1.8e-6), offsets=np.ones(m), offsets_sd=1e-8, mismatch=5e-9)


def test_column_footprint_units_are_taken_and_others_refused():
    assert _toy().jacobian()[0].shape == (6, 7)                           # chapter 58b's "(mol/mol)/(mol m-2 s-1)"
    with pytest.raises(UnitsError, match="footprint units 's m3 kg-1' not recognised"): _toy(units="s m3 kg-1")


@pytest.mark.parametrize("length_km, form", [(300.0, "obs"), (300.0, "state"), (0.0, "obs")])
def test_state_averaging_kernel_is_the_definition(length_km, form):
    pb = _toy(length_km)
    Hd, Sa, So = pb.jacobian()[0].toarray(), pb._prior.dense(), np.diag(pb.so())
    Sb = Sa - Sa @ Hd.T @ np.linalg.inv(Hd @ Sa @ Hd.T + So) @ Hd @ Sa
    A = np.eye(len(Sa)) - Sb @ np.linalg.inv(Sa)
    res = pb.solve(form=form)
    np.testing.assert_allclose(state_averaging_kernel(res), np.diag(A), atol=1e-9)
    assert abs(state_averaging_kernel(res).sum() - res.dfs()) < 1e-9


def test_block_labels_and_options():
    lab = block_labels(np.arange(5.0), np.arange(7.0), 3)
    assert np.unique(lab).size == 6 and lab.values[4, 6] == 5 and lab.values[2, 2] == 0
    assert np.unique(block_labels(np.arange(5.0), np.arange(7.0), 1)).size == 35


@pytest.mark.parametrize("field, value, want", [("block", 0, "block must be >= 1"), ("flux_month", 13, "flux_month"),
                                                ("uncertainty", 0.0, "uncertainty must be > 0"), ("offset_sd", -1e-9, "offset_sd must be >= 0")])
def test_impossible_options_are_refused(field, value, want):
    with pytest.raises(InputError, match=want): ColumnOptions(**{field: value})


@pytest.fixture(scope="module")
def brazil():
    return brazil_inputs()


def test_real_pieces_join_into_the_direct_forward_model(brazil):
    pc = column_pieces(brazil["soundings"], brazil["footprints"], brazil["flux"], brazil["curtains"], block=32)
    pb = column_problem(pc)
    direct = column_forward(pc.footprints.fp, pc.flux.isel(time=0, drop=True), pc.apriori).values + pc.boundary
    np.testing.assert_allclose(pb.forward(), direct, rtol=1e-12)
    res = pb.solve()
    parts = column_parts(res)
    np.testing.assert_allclose(parts.apriori_term + parts.boundary_posterior + parts.offset_posterior + parts.enhancement_posterior,
                               parts.model_posterior, rtol=1e-12)
    assert abs(parts.observed - parts.model_posterior).mean() < abs(parts.observed - parts.model_prior).mean()
    assert pd.Timestamp(pc.flux.time.values[0]).month == 1 and "single curtain field" in pc.curtains.attrs["time_axis"]


@pytest.mark.parametrize("case, err, want", [
    ("no_january", MissingDataError, "0 fields for month 1"),
    ("strict", MissingDataError, "no sounding passes the selection"),
    ("shifted", GridMismatchError, "no sounding within 2min"),
    ("unknown", InputError, r"unknown option\(s\) \['blocks'\]"),
])
def test_pieces_that_do_not_belong_together_are_refused(brazil, case, err, want):
    snd, fpc, flux, cur = (brazil[k] for k in ("soundings", "footprints", "flux", "curtains"))
    kw = {}
    if case == "no_january": flux = flux.isel(time=slice(1, None))
    if case == "strict": kw = {"max_uncertainty": 1e-9}
    if case == "shifted": snd = snd.assign(time=snd.time + np.timedelta64(1, "h"))
    if case == "unknown": kw = {"blocks": 4}
    with pytest.raises(err, match=want): column_pieces(snd, fpc, flux, cur, **kw)


def test_wetland_mask(brazil):
    f = brazil["flux"].isel(time=[0])
    w = wetland_mask(f, 30e-9)
    assert int(w.sum()) == int((f.isel(time=0) > 30e-9).sum()) > 0
    with pytest.raises(InputError, match="no cell exceeds"): wetland_mask(f, 1.0)
    with pytest.raises(GridMismatchError, match="differs from the prior's"): wetland_mask(f, 30e-9, within=w.isel(lat=slice(0, 10)))
