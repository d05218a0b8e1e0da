"""Chapter 59 (atmos.products): prior-flux readers, the flux at observation times, crops to a footprint grid, region
and boundary basis functions, country and province masks, aggregation weights. Tiny synthetic files in the ACRG/openghg
layout written to tmp_path (each malformed one asserts the error type and that the message names the file and the
variable), the shipped Natural Earth polygons on small grids, and, where the development data are present, the real
CH4 Europe prior's UK total."""
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from carbonflux_nb.core import GridMismatchError, InputError, MissingDataError, TimeAxisError, UnitsError, cell_area
from carbonflux_nb.atmos.products import (basis_matrix, country_mask, crop_flux, flux_at, flux_totals, province_mask,
                                          read_basis, read_boundary_basis, read_flux, region_weights)

LAT, LON = np.arange(50.0, 53.0, 0.5), np.arange(-2.0, 2.0, 0.5)          # 6 x 8 cells
TIMES = pd.date_range("2014-07-01", periods=4, freq="2h")


def flux_ds(lat=LAT, lon=LON, times=TIMES, value=1e-8, units="mol/m2/s"):
    "A flux Dataset in the ACRG layout: flux (lat, lon, time)."
    x = np.full((len(lat), len(lon), len(times)), value) * (1 + np.arange(len(times)))
    attrs = {} if units is None else {"units": units}
    return xr.Dataset({"flux": (("lat", "lon", "time"), x, attrs)}, coords={"lat": lat, "lon": lon, "time": times})


def write(tmp_path, name, ds):
    p = tmp_path / name
    ds.to_netcdf(p)
    return p


def test_read_flux_layout(tmp_path):
    "(lat, lon, time) in the file -> (time, lat, lon), ascending lat even where the file's is descending."
    ds = flux_ds().isel(lat=slice(None, None, -1))
    f = read_flux(write(tmp_path, "co2-test_2014.nc", ds), species="co2")
    assert f.dims == ("time", "lat", "lon") and f.shape == (4, 6, 8)
    assert (np.diff(f.lat) > 0).all()
    assert f.attrs["units"] == "mol m-2 s-1" and f.attrs["species"] == "co2" and f.attrs["source_file"].endswith("co2-test_2014.nc")
    np.testing.assert_allclose(f.isel(time=2).values, 3e-8, rtol=1e-12)
    g = read_flux(write(tmp_path, "u.nc", flux_ds(units="umol m-2 s-1", value=0.01)))
    np.testing.assert_allclose(float(g.max()), 4e-8, rtol=1e-12)          # umol -> mol


def _nan(ds): ds.flux.values[1, 2, 3] = np.nan
def _fill(ds): ds.flux.values[0, 0, 0] = 9.96921e36
def _dup_lat(ds): return ds.assign_coords(lat=np.r_[LAT[:3], LAT[2:5]])


HOSTILE = [
    ("no_units.nc", lambda ds: ds.flux.attrs.pop("units"), UnitsError, "no units attribute"),
    ("g_units.nc", lambda ds: ds.flux.attrs.update(units="g m-2 s-1"), UnitsError, "not a molar flux density"),
    ("nan.nc", _nan, MissingDataError, "1 NaN or fill values"),
    ("fill.nc", _fill, MissingDataError, "1 NaN or fill values"),
    ("dup_time.nc", lambda ds: ds.assign_coords(time=TIMES[[0, 0, 2, 3]]), TimeAxisError, "duplicated time"),
    ("back_time.nc", lambda ds: ds.assign_coords(time=TIMES[[0, 2, 1, 3]]), TimeAxisError, "not increasing"),
    ("dup_lat.nc", _dup_lat, GridMismatchError, "not monotonic"),
    ("kg.nc", lambda ds: ds.assign(flux=ds.flux * 1e6), UnitsError, "wrong units"),
    ("renamed.nc", lambda ds: ds.rename(flux="emissions"), InputError, "missing variable"),
    ("no_time.nc", lambda ds: ds.isel(time=0, drop=True), InputError, "expected time, lat, lon"),
]


@pytest.mark.parametrize("name,edit,err,msg", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_read_flux_hostile(tmp_path, name, edit, err, msg):
    ds = flux_ds()
    out = edit(ds)                                   # in place, or a new Dataset
    ds = out if isinstance(out, xr.Dataset) else ds
    p = write(tmp_path, name, ds)
    with pytest.raises(err, match=re.escape(msg)) as e:
        read_flux(p)
    assert name in str(e.value)
    assert "variable '" in str(e.value)


@pytest.mark.parametrize("value,sign,ok", [(1e-8, "nonneg", True), (-1e-8, "nonneg", False),
                                           (-1e-8, "nonpos", True), (1e-8, "nonpos", False)])
def test_read_flux_sign(tmp_path, value, sign, ok):
    p = write(tmp_path, "s.nc", flux_ds(value=value))
    if ok: assert read_flux(p, sign=sign).attrs["sign"].startswith("all")
    else:
        with pytest.raises(InputError, match=r"s\.nc, variable 'flux': 192 (negative|positive) values"):
            read_flux(p, sign=sign)


def test_read_flux_nan_zero(tmp_path):
    ds = flux_ds(); _nan(ds)
    f = read_flux(write(tmp_path, "ocean.nc", ds), nan="zero")
    assert f.attrs["nan_set_to_zero"] == 1 and float(f.isel(time=3, lat=1, lon=2)) == 0.0


def test_flux_at_forward_fill_and_refusals(tmp_path):
    f = read_flux(write(tmp_path, "f.nc", flux_ds()))
    obs = pd.to_datetime(["2014-07-01 01:59", "2014-07-01 02:00", "2014-07-01 07:30"])
    fa = flux_at(f, obs)
    assert list(fa.flux_time.values) == list(TIMES[[0, 1, 3]].values)
    np.testing.assert_allclose(fa.isel(time=2).values, 4e-8, rtol=1e-12)
    with pytest.raises(MissingDataError, match="before the first flux time"): flux_at(f, ["2014-06-30 23:00"])
    with pytest.raises(MissingDataError, match="more than one flux step"): flux_at(f, ["2014-07-01 09:00"])
    with pytest.raises(InputError, match=r"f\.nc, variable 'time': flux covers year\(s\) \[2014\].*year_mismatch_ok"):
        flux_at(f, ["2015-07-01 03:00"])


def test_flux_at_year_mismatch(tmp_path):
    "A 2016 monthly climatology for 2013 observations: allowed when asked, recorded; 29 February maps to the 28th."
    months = pd.date_range("2016-01-01", periods=12, freq="MS")
    f = read_flux(write(tmp_path, "clim.nc", flux_ds(times=months)))
    fa = flux_at(f, pd.to_datetime(["2013-03-05 12:00", "2012-02-29 12:00"]), year_mismatch_ok=True)
    assert [str(t)[:10] for t in fa.flux_time.values] == ["2016-03-01", "2016-02-01"]
    assert fa.attrs["year_mismatch"] == "flux year 2016 used for observation year(s) 2012, 2013"


def test_crop_flux(tmp_path):
    f = read_flux(write(tmp_path, "big.nc", flux_ds(lat=np.arange(40.0, 60.0, 0.5), lon=np.arange(-10.0, 10.0, 0.5))))
    c = crop_flux(f, LAT + 2e-5, LON)                      # float32-like offsets are matched
    assert c.shape == (4, 6, 8) and np.array_equal(c.lat.values, LAT + 2e-5)
    with pytest.raises(GridMismatchError, match=r"big\.nc, variable 'lon': 8 of 8 footprint lon values have no flux cell"):
        crop_flux(f, LAT, LON + 0.25)
    with pytest.raises(GridMismatchError, match="variable 'lat'"):
        crop_flux(f, np.arange(55.0, 65.0, 0.5), LON)          # partly outside the flux domain


def basis_ds(labels):
    return xr.Dataset({"basis": (("lat", "lon", "time"), labels[..., None].astype(float))},
                      coords={"lat": LAT, "lon": LON, "time": pd.to_datetime(["2000-01-01"])})


def test_read_basis_and_matrix(tmp_path):
    lab = np.zeros((6, 8), int); lab[:, 4:] = 2; lab[3:, :2] = 1
    b = read_basis(write(tmp_path, "basis.nc", basis_ds(lab)))
    assert b.attrs["regions"] == [0, 1, 2] and b.attrs["cells"] == [18, 6, 24]
    B = basis_matrix(b, LAT, LON, names={2: "east"})
    assert B.matrix.shape == (48, 3) and B.names == ["region 0", "region 1", "east"]
    np.testing.assert_array_equal(B.matrix @ np.array([10.0, 20.0, 30.0]), (10 + 10 * lab).ravel())
    with pytest.raises(GridMismatchError, match="basis.*grids differ along .lat."):
        basis_matrix(b, LAT + 1, LON)


@pytest.mark.parametrize("value,msg", [(1.5, "whole numbers"), (-1.0, "whole numbers"), (np.nan, "1 cells without a label")])
def test_read_basis_hostile(tmp_path, value, msg):
    lab = np.zeros((6, 8)); lab[2, 3] = value
    with pytest.raises(InputError, match=r"bad\.nc, variable 'basis': .*" + re.escape(msg)):
        read_basis(write(tmp_path, "bad.nc", basis_ds(lab)))


def nesw(heights=(500.0, 1500.0)):
    "A boundary basis with one region per edge, and particles/curtains on the same edges."
    h = np.asarray(heights)
    d, p, c = {}, {}, {}
    for k, (e, pos) in enumerate({"n": "lon", "e": "lat", "s": "lon", "w": "lat"}.items()):
        n = len(LON if pos == "lon" else LAT)
        w = np.zeros((h.size, n, 4)); w[..., k] = 1
        d[f"bc_basis_{e}"] = (("height", pos, "region"), w)
        p[f"particle_locations_{e}"] = (("time", "height", pos), np.full((2, h.size, n), 0.25 / (h.size * n)))
        c[f"vmr_{e}"] = (("time", "height", pos), np.full((1, h.size, n), 1.9e-6 + 1e-8 * k))
    co = {"height": h, "lat": LAT, "lon": LON}
    return (xr.Dataset(d, coords=co), xr.Dataset(p, coords={**co, "time": TIMES[:2]}),
            xr.Dataset(c, coords={**co, "time": pd.to_datetime(["2014-07-01"])}))


def test_read_boundary_basis(tmp_path):
    from carbonflux_nb.atmos.readers import boundary_contribution
    b, particles, curtains = nesw()
    bb = read_boundary_basis(write(tmp_path, "nesw.nc", b))
    assert bb.region.values.tolist() == ["N", "E", "S", "W"]
    per = boundary_contribution(particles, curtains, basis=bb)
    np.testing.assert_allclose(per.sum("region").values, boundary_contribution(particles, curtains).values, rtol=1e-12)
    np.testing.assert_allclose(per.isel(time=0).values, 0.25 * (1.9e-6 + 1e-8 * np.arange(4)), rtol=1e-12)


def test_read_boundary_basis_hostile(tmp_path):
    b, _, _ = nesw()
    half = b.assign(bc_basis_s=b.bc_basis_s * 0.5)
    with pytest.raises(InputError, match=r"half\.nc, variable 'bc_basis_s': weights sum over regions to 0\.5"):
        read_boundary_basis(write(tmp_path, "half.nc", half))
    with pytest.raises(InputError, match=r"now\.nc, variable 'bc_basis_w': missing variable"):
        read_boundary_basis(write(tmp_path, "now.nc", b.drop_vars("bc_basis_w")))


def test_country_mask_areas_and_names():
    lat, lon = np.arange(49.25, 61.0, 0.5), np.arange(-11.25, 2.5, 0.5)
    m = country_mask(["United Kingdom", "IRL"], lat, lon)
    km2 = (m * cell_area(lat, lon)).sum(("lat", "lon")).values / 1e6
    np.testing.assert_allclose(km2, [242_500, 70_300], rtol=0.05)        # land areas of the UK and Ireland
    assert float(m.sum("region").max()) <= 1 + 1e-9
    with pytest.raises(InputError, match=r"no country named 'Irland'; did you mean \['Ireland'"):
        country_mask(["Irland"], lat, lon)


def test_province_mask_china():
    lat, lon = np.arange(38.25, 42.5, 0.5), np.arange(114.25, 118.5, 0.5)
    m = province_mask(["Beijing"], lat, lon, country="CHN")
    np.testing.assert_allclose(float((m * cell_area(lat, lon)).sum()) / 1e6, 16_400, rtol=0.15)
    with pytest.raises(InputError, match="no admin-1 divisions for country 'Atlantis'"):
        province_mask(["Beijing"], lat, lon, country="Atlantis")


def test_region_weights_and_totals(tmp_path):
    "A uniform 1e-9 mol m-2 s-1 over each label's cells gives area x flux x M x seconds per year."
    lab = np.zeros((6, 8), int); lab[:, 4:] = 1
    b = read_basis(write(tmp_path, "b.nc", basis_ds(lab)))
    W = region_weights(b, LAT, LON)
    f = read_flux(write(tmp_path, "f.nc", flux_ds(value=1e-9)))
    tot = flux_totals(W, f, 16.04).isel(time=0)
    area = cell_area(LAT, LON).values
    want = [area[:, :4].sum(), area[:, 4:].sum()]
    np.testing.assert_allclose(tot.values, np.array(want) * 1e-9 * 16.04 * 86400 * 365.25 / 1e12, rtol=1e-10)
    with pytest.raises(UnitsError, match="expected mol m-2 s-1"):
        flux_totals(W, f.assign_attrs(units="gC m-2 d-1"), 12.0)
    with pytest.raises(GridMismatchError, match="grids differ along .lon."):
        flux_totals(W, f.assign_coords(lon=LON + 1), 16.04)


def test_real_uk_ch4_prior_total():
    "The ACRG 2013 CH4 prior over the UK is of the UK inventory's order (about 2 Tg CH4 yr-1); skipped without the data."
    from carbonflux_nb.config import get_settings
    if not (get_settings().data_dir / "inversion_real").exists(): pytest.skip("needs the development data (inversion_real)")
    from carbonflux_nb.inputs import real_input
    f = read_flux(real_input("ch4_europe_2014/ch4_EUROPE_reduced_2013.nc"))
    box = f.sel(lat=slice(48, 62), lon=slice(-12, 3))
    tot = flux_totals(region_weights(country_mask(["United Kingdom"], box.lat, box.lon)), box, 16.043)
    assert 1.0 < float(tot.squeeze()) < 3.0
