"""Chapter 59b (atmos.fields): CT2022 and CAMS 3-D CO2 readers, the station and column sampling operators, and FLEXPART
forward runs into H columns, each checked against the analytic field its example writer used and on malformed copies."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from carbonflux_nb.atmos.fields import (FLEXPART_EXAMPLE_REGIONS, cams_example_field, ct2022_example_field, example_air_density,
                                        flexpart_forward_plume, read_cams_co2, read_ct2022_molefractions, read_flexpart_forward,
                                        sample_column, sample_station, write_cams_example, write_ct2022_example,
                                        write_flexpart_forward_example)
from carbonflux_nb.core import InputError, MissingDataError, TimeAxisError, UnitsError, cell_area


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fields")
    return {"ct": write_ct2022_example(d / "CT2022.molefrac_glb3x2_2018-07-01.nc"), "cams": write_cams_example(d / "cams.nc"),
            "fp": write_flexpart_forward_example(d / "grid_conc_20180701000000.nc"), "dir": d}


@pytest.fixture(scope="module")
def ct(files): return read_ct2022_molefractions(files["ct"])


@pytest.fixture(scope="module")
def cams(files): return read_cams_co2(files["cams"])


@pytest.fixture(scope="module")
def raws(files):
    "Each example file opened once; malformed copies start from a deep copy."
    return {"ct": xr.open_dataset(files["ct"]).load(), "cams": xr.open_dataset(files["cams"]).load(),
            "fp": xr.open_dataset(files["fp"], engine="h5netcdf", decode_times=False).load()}


def _copy(files, raws, key, name, fn):
    d = raws[key].copy(deep=True); d = fn(d) or d
    q = files["dir"] / name; d.to_netcdf(q, engine="h5netcdf"); return q


def _swap(d, var, dim):
    ax = d[var].dims.index(dim); x = d[var].values.copy()
    a, b = [slice(None)] * x.ndim, [slice(None)] * x.ndim; a[ax], b[ax] = [2, 3], [3, 2]
    x[tuple(a)] = d[var].values[tuple(b)]; d[var] = d[var].copy(data=x)


def _set(var, idx, val):
    def fn(d): a = d[var].values.copy(); a[idx] = val; d[var] = d[var].copy(data=a)
    return fn


def _dup(d): t = d.time.values.copy(); t[2] = t[1]; d["time"] = d.time.copy(data=t)


# Cases the chapter's own cells check (a missing co2 or hyai, shuffled levels, a duplicated time, unknown CAMS units; a backward
# run, wrong forward units, a point release, duplicated forward times) are not repeated here: nbdev-test runs the chapter.
MALFORMED = [  # (file, copy name, change, reader, error, what the message must say)
    ("ct", "ct_nopressure", lambda d: d.drop_vars("pressure"), read_ct2022_molefractions, InputError, "variable 'pressure': missing"),
    ("ct", "ct_units", lambda d: d.co2.attrs.update(units="ppb"), read_ct2022_molefractions, UnitsError, "'co2': units 'ppb'"),
    ("ct", "ct_factor", lambda d: d.assign(co2=d.co2 * 1e3), read_ct2022_molefractions, InputError, "are the units right"),
    ("ct", "ct_pflip", lambda d: d.assign(pressure=d.pressure[:, ::-1].values * 1 + 0 * d.pressure), read_ct2022_molefractions, InputError, "'pressure'"),
    ("ct", "ct_punits", lambda d: d.pressure.attrs.update(units="mbar"), read_ct2022_molefractions, UnitsError, "'pressure': units 'mbar'"),
    ("ct", "ct_order", lambda d: d.isel(time=[0, 2, 1, 3]), read_ct2022_molefractions, TimeAxisError, "'time': time stamps not increasing"),
    ("ct", "ct_nan", _set("co2", (0, 0, 0, 0), np.nan), read_ct2022_molefractions, MissingDataError, "'co2': 1 NaN"),
    ("cams", "cams_nosp", lambda d: d.drop_vars("sp"), read_cams_co2, InputError, "'sp': missing variable sp or Psurf"),
    ("cams", "cams_sp_hpa", lambda d: d.sp.attrs.update(units="hPa"), read_cams_co2, InputError, "'sp': 1024 values outside the physical range"),
    ("cams", "cams_edges", lambda d: d.isel(half_level=slice(0, -1)), read_cams_co2, InputError, "'hyai': 30 and 30 edge coefficients for 30 levels"),
    ("cams", "cams_fill", _set("sp", (0, 1, 1), 9.999e36), read_cams_co2, MissingDataError, "'sp': fill values")]


@pytest.mark.parametrize("key,name,fn,reader,err,msg", MALFORMED, ids=[m[1] for m in MALFORMED])
def test_malformed_fields(files, raws, key, name, fn, reader, err, msg):
    q = _copy(files, raws, key, f"{name}.nc", fn)
    with pytest.raises(err) as e: reader(q)
    assert str(q) in str(e.value) and msg in str(e.value), str(e.value)


def test_ct_reader_values(raws, ct):
    raw = raws["ct"]
    np.testing.assert_allclose(ct.co2.values, raw.co2.values.astype(float) * 1e-6, rtol=1e-12)
    h = (ct.time.values - np.datetime64("2018-07-01")) / np.timedelta64(1, "h")
    want = ct2022_example_field(h[:, None, None, None], ct.lat.values[None, None, :, None], ct.lon.values[None, None, None, :], ct.z_mid.values)
    np.testing.assert_allclose(ct.co2.values * 1e6, want, atol=1e-3)
    assert ct.p_edge.attrs["units"] == "Pa" and (ct.p_edge.diff("edge") < 0).all()


def test_cams_units_and_orientation(files, raws, cams):
    raw = raws["cams"]
    np.testing.assert_allclose(cams.co2.isel(level=0).values, (raw.co2.isel(level=-1) * 28.9647 / 44.009).sortby("latitude").values, rtol=1e-12)
    np.testing.assert_allclose(cams.co2.values, cams_example_field(cams.lat.values[None, None, :, None], 0, cams.p_mid.values) * 1e-6, rtol=1e-10)
    # a moist mass mixing ratio with specific humidity q is made dry first: chi = q_co2 / (1 - q) * M_air / M_CO2
    q = _copy(files, raws, "cams", "cams_q.nc", lambda d: d.assign(q=d.co2 * 0 + 0.01))
    np.testing.assert_allclose(read_cams_co2(q).co2.values, cams.co2.values / 0.99, rtol=1e-12)
    alt = read_cams_co2(write_cams_example(files["dir"] / "inv.nc", units="ppm", coefficients=("ap", "bp"), surface="Psurf"))
    np.testing.assert_allclose(alt.co2.values, cams.co2.values, rtol=1e-12)


def test_sample_station_exact_for_linear_field(ct, cams):
    r = np.random.default_rng(3); n = 25
    tab = pd.DataFrame({"time": np.datetime64("2018-07-01T01:30") + (r.uniform(0, 21, n) * 3600).astype("timedelta64[s]"),
                        "lat": r.uniform(31.5, 58.5, n), "lon": r.uniform(-28, 13, n), "height": r.uniform(800, 5000, n)})
    h = (tab.time.values - np.datetime64("2018-07-01")) / np.timedelta64(1, "h")
    np.testing.assert_allclose(sample_station(ct, tab).values * 1e6, ct2022_example_field(h, tab.lat, tab.lon, tab.height), atol=2e-3)
    # by pressure in the CAMS field (linear in pressure and latitude)
    pt = tab.assign(time=np.datetime64("2018-07-01T03:00"), lat=r.uniform(31, 59, n), pressure=r.uniform(3e4, 8e4, n)).drop(columns="height")
    np.testing.assert_allclose(sample_station(cams, pt).values, cams_example_field(pt.lat.values, 0, pt.pressure.values) * 1e-6, rtol=1e-10)
    with pytest.raises(InputError, match="outside the field's lon range"): sample_station(ct, tab.assign(lon=100.0))
    with pytest.raises(InputError, match="needs a vertical position"): sample_station(ct, tab.drop(columns="height"))
    high = tab.assign(height=np.where(tab.index == 7, 1e6, tab.height))          # only sample 7 is above the top: it is the one named
    with pytest.raises(InputError, match=r"sample 7 lies above the field's top layer middle \(height 1e\+06\)"): sample_station(ct, high)


def _soundings(S=6, K=15, seed=4):
    r = np.random.default_rng(seed)
    p = r.uniform(950, 1000, S)[:, None] * np.linspace(0.05, 0.8, K)[None]
    w = r.uniform(0.5, 1.5, (S, K)); w /= w.sum(1, keepdims=True)
    return xr.Dataset({"time": ("sounding", np.full(S, np.datetime64("2018-07-01T09:00"))), "lat": ("sounding", r.uniform(31, 59, S)),
                       "lon": ("sounding", r.uniform(-29, 14, S)), "pressure_levels": (("sounding", "level"), p, {"units": "hPa"}),
                       "pressure_weights": (("sounding", "level"), w), "averaging_kernel": (("sounding", "level"), r.uniform(0.3, 1.1, (S, K))),
                       "co2_profile_apriori": (("sounding", "level"), r.uniform(400, 410, (S, K)), {"units": "ppm"})}, coords={"sounding": np.arange(S)})


def test_sample_column_standard_operator(cams):
    snd = _soundings()
    x = cams_example_field(snd.lat.values[:, None], 0, snd.pressure_levels.values * 100) * 1e-6
    w, a, xa = snd.pressure_weights.values, snd.averaging_kernel.values, snd.co2_profile_apriori.values * 1e-6
    out = sample_column(cams, snd)
    np.testing.assert_allclose(out.xco2.values, (w * (a * x + (1 - a) * xa)).sum(1), rtol=1e-10)
    with pytest.raises(InputError, match="pressure_weights.*sum to"): sample_column(cams, snd.assign(pressure_weights=snd.pressure_weights * 3))
    with pytest.raises(UnitsError, match="pressure_levels.*'bar'"): sample_column(cams, snd.assign(pressure_levels=snd.pressure_levels.assign_attrs(units="bar")))


def _receptors():
    return pd.DataFrame({"time": pd.to_datetime(["2018-07-01 06:00", "2018-07-01 12:00", "2018-07-01 18:00", "2018-07-01 23:00"]),
                         "lat": [45.5, 47.5, 50.5, 46.5], "lon": [4.5, 6.5, 3.5, 12.5], "height": [50.0, 80.0, 300.0, 90.0]})


def test_forward_H_against_analytic_plume(files):
    rec = _receptors(); zl = np.array([50.0, 50.0, 300.0, 50.0]); rho = example_air_density(zl)
    H = read_flexpart_forward(files["fp"], rec.assign(air_density=rho))
    assert H.dims == ("receptor", "region") and H.attrs["units"] == "(mol/mol) per (mol m-2 s-1)"
    area = np.array([float(cell_area(np.arange(g["lat1"] + 0.5, g["lat2"]), np.arange(g["lon1"] + 0.5, g["lon2"])).sum()) for g in FLEXPART_EXAMPLE_REGIONS])
    t = np.array([6, 12, 18, 24]) * 3600.0
    c = np.stack([flexpart_forward_plume(t, zl, rec.lat.values, rec.lon.values, g) for g in FLEXPART_EXAMPLE_REGIONS], 1)
    want = c * 1e-12 * 0.0289647 / rho[:, None] * area[None] * 86400 / 1e6
    np.testing.assert_allclose(H.values, want, rtol=1e-5, atol=1e-6 * want.max())
    H2 = read_flexpart_forward(write_flexpart_forward_example(files["dir"] / "rec2.nc", ind_receptor=2), rec)
    np.testing.assert_allclose(H2.values, H.values, rtol=1e-5, atol=1e-6 * want.max())


def _fp_dup(d): t = d.time.values.copy(); t[1] = t[0]; d["time"] = d.time.copy(data=t)
def _fp_point(d): d["RELLAT2"] = d.RELLAT1.copy()


FORWARD_BAD = [
    ("fp_switch", lambda d: d.assign_attrs(ind_receptor=2), UnitsError, "expected 'ng kg-1'"),
    ("fp_nomass", lambda d: d.drop_vars("RELXMASS"), InputError, "'RELXMASS': missing variable RELXMASS"),
    ("fp_zero_duration", lambda d: d.assign(RELEND=d.RELSTART), InputError, "duration_s = 0"),
    ("fp_points", lambda d: d.isel(numpoint=[0, 1]), InputError, "'pointspec': 3 pointspec fields for 2 releases"),
    ("fp_nan", _set("spec001_mr", (0, 0, 2, 0, 5, 5), np.nan), MissingDataError, "'spec001_mr': 1 NaN"),
    ("fp_negative", _set("spec001_mr", (0, 0, 2, 0, 5, 5), -1.0), InputError, "'spec001_mr': 1 negative"),
    ("fp_heights", lambda d: d.assign(height=d.height[::-1].values * 1.0 + 0 * d.height), InputError, "'height': layer tops")]


@pytest.mark.parametrize("name,fn,err,msg", FORWARD_BAD, ids=[b[0] for b in FORWARD_BAD])
def test_malformed_forward(files, raws, name, fn, err, msg):
    q = _copy(files, raws, "fp", f"{name}.nc", fn)
    with pytest.raises(err) as e: read_flexpart_forward(q, _receptors(), air_density=1.2)
    assert str(q) in str(e.value) and msg in str(e.value), str(e.value)


@pytest.mark.parametrize("change,msg", [({"time": pd.Timestamp("2018-07-03")}, "in no output interval"),
                                        ({"lat": 80.0}, "outside the field's latitude range"),
                                        ({"height": 5000.0}, "outside the output layers"),
                                        ({"air_density": 1200.0}, "not in kg m-3")])
def test_forward_receptors_outside(files, change, msg):
    with pytest.raises(InputError, match=msg): read_flexpart_forward(files["fp"], _receptors().assign(**change), air_density=1.2)


def test_global_grid_wraps_in_longitude(files):
    "On a global grid a station east of the last column is interpolated towards the first one (and 0-360 longitudes are read too)."
    g = read_ct2022_molefractions(write_ct2022_example(files["dir"] / "global.nc", nlev=4, lat=np.array([45.0, 47.0]), lon=np.arange(-178.5, 180, 3.0)))
    v = sample_station(g, pd.DataFrame({"time": g.time.values[1], "lat": 46.0, "lon": [181.5, -178.5, 180.5, 178.5], "height": 1500.0})).values
    np.testing.assert_allclose(v[0], v[1], rtol=1e-14)
    np.testing.assert_allclose(v[2], (v[3] + 2 * v[1]) / 3, rtol=1e-12)
