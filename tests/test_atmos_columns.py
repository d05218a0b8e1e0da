"""Chapter 58b (atmos.columns, issue 24 points 1b/1c, 2 column part, 6): GOSAT ESA CCI / ACRG readers, OCO-2 Lite
operation modes, NAME column footprints and the column operator. Malformed copies of small files written in the
documented layouts (each error names the file, the variable and what is wrong), the operator against direct loops,
and, with the development data folder, the real Brazil files (skipped without it)."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from carbonflux_nb.atmos.columns import (check_column_particles, column_apriori_term, column_footprint, column_forward,
                                         match_soundings, read_gosat_cci, read_name_column_footprint, read_oco2_lite_modes,
                                         select_oco2_mode, write_gosat_cci_example, write_oco2_lite_example)
from carbonflux_nb.config import get_settings
from carbonflux_nb.core import GridMismatchError, InputError, MissingDataError, TimeAxisError, UnitsError, data_path

HAVE = (get_settings().data_dir / "inversion_real").exists()


def expect(f, err, *wants):
    "`f()` raises `err` whose message holds each of `wants`."
    with pytest.raises(err) as e: f()
    for w in wants: assert str(w) in str(e.value), f"{w!r} not in: {e.value}"


@pytest.fixture(scope="module")
def d(tmp_path_factory): return tmp_path_factory.mktemp("columns")


@pytest.fixture(scope="module")
def gosat(d): return xr.open_dataset(write_gosat_cci_example(d / "gosat.nc")).load()


def _x(ds, i, v=np.nan, var="xch4"):
    x = ds[var].copy(); x[i] = v; return ds.assign({var: x})


GOSAT_CASES = {
    "no_ak": (lambda g: g.drop_vars("xch4_averaging_kernel"), InputError, "xch4_averaging_kernel", "missing variable"),
    "ak_levels": (lambda g: g.drop_vars("xch4_averaging_kernel").assign(xch4_averaging_kernel=(("time", "k"), g.xch4_averaging_kernel.values[:, :19])),
                  InputError, "xch4_averaging_kernel", "19 levels, but pressure_weights has 20"),
    "apriori_levels": (lambda g: g.drop_vars("ch4_profile_apriori").assign(ch4_profile_apriori=(("time", "k"), g.ch4_profile_apriori.values[:, :18], {"units": "1e-9"})),
                       InputError, "ch4_profile_apriori", "18 levels"),
    "ak_1d": (lambda g: g.assign(xch4_averaging_kernel=("time", g.xch4_averaging_kernel.values[:, 0])), InputError, "xch4_averaging_kernel", "expected (time: 6 soundings"),
    "weights": (lambda g: g.assign(pressure_weights=g.pressure_weights * 0.95), InputError, "pressure_weights", "sum to 0.9500, not 1"),
    "nan_xch4": (lambda g: _x(g, 2), MissingDataError, "xch4", "NaN or fill values"),
    "fill_xch4": (lambda g: _x(g, 0, -9999.99), MissingDataError, "xch4", "sounding 0"),
    "nan_ak": (lambda g: _x(g, (1, 3), var="xch4_averaging_kernel"), MissingDataError, "xch4_averaging_kernel", "NaN"),
    "dup_time": (lambda g: g.assign_coords(time=np.r_[g.time.values[:5], g.time.values[4]]), TimeAxisError, "time", "duplicated"),
    "units": (lambda g: g.assign(xch4=g.xch4.assign_attrs(units="kg m-2")), UnitsError, "xch4", "'kg m-2'"),
    "ppm_as_ppb": (lambda g: g.assign(xch4=g.xch4.assign_attrs(units="ppm")), InputError, "xch4", "outside the physical range"),
    "pressure_up": (lambda g: g.assign(pressure_levels=(("time", "lev"), g.pressure_levels.values[:, ::-1], {"units": "hPa"})), InputError, "pressure_levels", "fall from the surface"),
    "neg_uncertainty": (lambda g: _x(g, 1, -3.0, "xch4_uncertainty"), InputError, "xch4_uncertainty", "outside"),
}


@pytest.mark.parametrize("case", GOSAT_CASES)
def test_gosat_malformed(d, gosat, case):
    make, err, var, what = GOSAT_CASES[case]
    p = d / f"gosat_{case}.nc"; make(gosat).to_netcdf(p, engine="scipy")
    expect(lambda: read_gosat_cci(p), err, p.name, f"'{var}'", what)


def test_gosat_layouts(d):
    a = read_gosat_cci(write_gosat_cci_example(d / "acrg.nc"))
    assert dict(a.sizes) == {"sounding": 6, "level": 20} and a.value.attrs["units"] == "mol/mol"
    np.testing.assert_allclose(a.value * 1e9, xr.open_dataset(d / "acrg.nc").xch4.values, rtol=1e-12)   # ppb -> mol/mol
    np.testing.assert_allclose(a.pressure_weight.sum("level"), 1.0, atol=1e-12)
    e = read_gosat_cci(write_gosat_cci_example(d / "esa.nc", layout="esa"))            # the flagged sounding (fills) is dropped
    assert e.sizes["sounding"] == 5 and (e.quality_flag == 0).all()
    every = read_gosat_cci(d / "esa.nc", good_only=False)
    assert every.sizes["sounding"] == 6 and np.isnan(every.value[-1]) and np.isfinite(every.value[:-1]).all()
    raw = xr.open_dataset(d / "esa.nc").load()
    raw.assign(xch4_quality_flag=raw.xch4_quality_flag * 0).to_netcdf(p := d / "esa_badflag.nc", engine="scipy")
    expect(lambda: read_gosat_cci(p), MissingDataError, p.name, "good-quality sounding(s)", "sounding 5")


@pytest.fixture(scope="module")
def lite(d): return write_oco2_lite_example(d / "lite.nc4")


def test_oco2_modes(lite):
    every = read_oco2_lite_modes(lite, modes=["LN", "LG", "LT", "ON", "OG", "MG"], good_only=False)
    assert every.sizes["sounding"] == 12
    good = every.xco2_quality_flag.values == 0
    for modes in (("LN", "LG"), ("OG",), "LN"):
        s = read_oco2_lite_modes(lite) if modes == ("LN", "LG") else select_oco2_mode(every, modes)
        want = np.isin(every["mode"], list(np.atleast_1d(modes))) & good
        assert s.sizes["sounding"] == want.sum() > 0 and set(s["mode"].values) <= set(np.atleast_1d(modes))
        np.testing.assert_allclose(s.xco2, every.xco2[want])
    assert list(every.operation_mode[:3]) == [0, 1, 0] and list(every["mode"][:4]) == ["LN", "LG", "ON", "OG"]


def _lite_with(d, lite, name, **group):
    g = xr.open_dataset(lite, group="Sounding").load()
    xr.open_dataset(lite).load().to_netcdf(p := d / f"lite_{name}.nc4", engine="h5netcdf")
    g.drop_vars([k for k, v in group.items() if v is None]).assign({k: v for k, v in group.items() if v is not None}).to_netcdf(
        p, mode="a", group="Sounding", engine="h5netcdf")
    return p


def test_oco2_modes_malformed(d, lite):
    sample = data_path("inversion") / "oco2_lite_b11_binned_20150131_single_sounding.nc"
    expect(lambda: read_oco2_lite_modes(sample), InputError, sample.name, "'Sounding/operation_mode'", "without the Lite file's Sounding group")
    p = _lite_with(d, lite, "mode7", operation_mode=("sounding_id", np.full(12, 7, "i1")))
    expect(lambda: read_oco2_lite_modes(p), InputError, p.name, "'Sounding/operation_mode'", "[7] unknown")
    p = _lite_with(d, lite, "short", operation_mode=("k", np.zeros(5, "i1")))
    expect(lambda: read_oco2_lite_modes(p), InputError, p.name, "5 operation modes", "for 12 soundings")
    p = _lite_with(d, lite, "nosurface", land_water_indicator=None)
    expect(lambda: read_oco2_lite_modes(p), InputError, p.name, "'Sounding/land_water_indicator'")
    p = _lite_with(d, lite, "fraction", land_water_indicator=None, land_fraction=("sounding_id", np.resize([100.0, 0.0, 50.0], 12)))
    s = read_oco2_lite_modes(p, modes=["LN", "LG", "ON", "OG", "MN", "MG", "LT", "OT", "MT"], good_only=False)
    assert [m[0] for m in s["mode"].values[:3]] == ["L", "O", "M"]
    expect(lambda: select_oco2_mode(s, ["LN", "XX"]), InputError, "'modes'", "unknown mode code(s) ['XX']")
    expect(lambda: select_oco2_mode(s.drop_vars("mode")), InputError, "'Sounding/operation_mode'", "read_oco2_lite_modes")


@pytest.fixture(scope="module")
def colfp(d):
    r = np.random.default_rng(1)
    pl = {f"particle_locations_{e}": (("height", p, "time"), np.full((2, 6 if p == "lat" else 5, 3), 0.96 / 44))
          for e, p in (("n", "lon"), ("e", "lat"), ("s", "lon"), ("w", "lat"))}
    return xr.Dataset({"fp": (("lat", "lon", "time"), r.random((6, 5, 3)) * 1e-3, {"units": "(mol/mol)/(mol/m2/s)"}), **pl,
                       "release_lat": ("time", [-20.0, -19.5, -19.0]), "release_lon": ("time", [-50.0, -49.7, -49.4])},
                      coords={"lat": np.linspace(-20, -10, 6), "lon": np.linspace(-60, -50, 5), "height": [500.0, 1500.0],
                              "time": pd.date_range("2013-01-01 15:00", periods=3, freq="5s")}, attrs={"max_level": 17})


def _nan_fp(c): f = c.fp.copy(); f[0, 0, 0] = np.nan; return c.assign(fp=f)


COL_CASES = {
    "units": (lambda c: c.assign(fp=c.fp.assign_attrs(units="s m3 kg-1")), UnitsError, "fp", "footprint units"),
    "negative": (lambda c: c.assign(fp=-c.fp), InputError, "fp", "cannot be negative"),
    "nan": (_nan_fp, MissingDataError, "fp", "NaN"),
    "dims": (lambda c: c.assign(fp=c.fp.rename(lat="y")), InputError, "fp", "expected time, lat, lon"),
    "over_one": (lambda c: c.assign(particle_locations_n=c.particle_locations_n * 10), InputError, "particle_locations_n/e/s/w", "> 1"),
    "no_edge": (lambda c: c.drop_vars("particle_locations_w"), InputError, "particle_locations_w", "missing variable"),
    "dup_time": (lambda c: c.assign_coords(time=c.time.values[[0, 1, 1]]), TimeAxisError, "time", "duplicated"),
}


@pytest.mark.parametrize("case", COL_CASES)
def test_column_footprint_malformed(d, colfp, case):
    make, err, var, what = COL_CASES[case]
    p = d / f"col_{case}.nc"; make(colfp).to_netcdf(p, engine="scipy")
    expect(lambda: read_name_column_footprint(p), err, p.name, f"'{var}'", what)


def test_column_footprint_file_and_per_level(d, colfp):
    colfp.to_netcdf(p := d / "col.nc", engine="scipy")
    c = read_name_column_footprint(p)
    assert c.fp.dims == ("time", "lat", "lon") and c.attrs["max_level"] == 17 and c.attrs["combined"] == 1
    np.testing.assert_allclose(c.particle_total, 0.96)
    lv = xr.concat([colfp.fp * (k + 1) for k in range(4)], "lev").assign_coords(lev=np.arange(4))   # a file of per-level footprints
    colfp.assign(fp=lv.assign_attrs(units="(mol/mol)/(mol/m2/s)")).to_netcdf(p := d / "col_levels.nc", engine="scipy")
    c4 = read_name_column_footprint(p)
    assert c4.fp.dims == ("time", "level", "lat", "lon") and c4.attrs["combined"] == 0
    h, a = np.full((3, 6), 1 / 6), np.full((3, 6), 0.9)
    np.testing.assert_allclose(column_footprint(c4.fp, h, a), c.fp * 0.9 / 6 * (1 + 2 + 3 + 4), rtol=1e-12)


def test_operator_against_loops():
    r = np.random.default_rng(0)
    F = xr.DataArray(r.random((4, 7, 3, 2)), dims=("time", "level", "lat", "lon"))
    h = r.random((4, 9)); h /= h.sum(1, keepdims=True); a, xa = 0.7 + 0.3 * r.random((4, 9)), 1.8e-6 * (1 + 0.01 * r.random((4, 9)))
    loop, prior = np.zeros((4, 3, 2)), np.zeros(4)
    for s in range(4):
        for l in range(9):
            if l < 7: loop[s] += h[s, l] * a[s, l] * F.values[s, l]
            prior[s] += h[s, l] * xa[s, l] * ((1 - a[s, l]) if l < 7 else 1)
    np.testing.assert_allclose(column_footprint(F, h, a), loop, rtol=1e-12)
    np.testing.assert_allclose(column_apriori_term(h, a, xa, max_level=7), prior, rtol=1e-12)
    # x equal to the a priori everywhere is retrieved as the a priori column h . xa
    np.testing.assert_allclose((h * a * xa).sum(1) + column_apriori_term(h, a, xa), (h * xa).sum(1), rtol=1e-12)
    fc = column_footprint(F, h, a).assign_coords(lat=[0.0, 1.0, 2.0], lon=[10.0, 11.0], time=pd.date_range("2020", periods=4, freq="h"))
    x = xr.DataArray(r.random((3, 2)) * 1e-8, {"lat": [0.0, 1.0, 2.0], "lon": [10.0, 11.0]}, ("lat", "lon"), attrs={"units": "mol m-2 s-1"})
    np.testing.assert_allclose(column_forward(fc, x, prior), (loop * x.values).sum((1, 2)) + prior, rtol=1e-12)


def test_operator_errors():
    F = xr.DataArray(np.ones((2, 3, 2, 2)), dims=("time", "level", "lat", "lon"))
    h = a = np.full((2, 4), 0.25)
    expect(lambda: column_footprint(F.isel(level=0), h, a), InputError, "no 'level' dimension")
    expect(lambda: column_footprint(F, h, a[:, :3]), InputError, "'ak'", "(2, 3) differs from the pressure weights' (2, 4)")
    expect(lambda: column_footprint(F, h[:1], a[:1]), InputError, "'pressure_weights'", "1 soundings' weights for 2 footprints")
    expect(lambda: column_footprint(F, h, a, max_level=4), InputError, "'max_level'", "exceeds the 3 released levels")
    expect(lambda: column_footprint(F, np.where(h > 0, np.nan, h), a), MissingDataError, "'pressure_weights'", "NaN")
    expect(lambda: column_apriori_term(h, a, np.ones((2, 3))), InputError, "'ak'", "shapes differ")
    fc = column_footprint(F, h, a).assign_coords(lat=[0.0, 1.0], lon=[0.0, 1.0], time=[0, 1])
    flux = xr.DataArray(np.ones((2, 2)), {"lat": [0.0, 1.0], "lon": [0.0, 1.0]}, ("lat", "lon"), name="flux", attrs={"units": "mol/m2/s", "source_file": "f.nc"})
    expect(lambda: column_forward(fc, flux.assign_attrs(units="g m-2 d-1")), UnitsError, "f.nc", "'flux'", "'g m-2 d-1'")
    expect(lambda: column_forward(fc, flux.assign_coords(lat=[5.0, 6.0])), GridMismatchError, "f.nc", "grids differ along 'lat'")
    expect(lambda: column_forward(fc, flux.where(flux.lat > 0)), MissingDataError, "f.nc", "2 NaN cells")
    expect(lambda: column_forward(fc, flux.expand_dims(time=2)), InputError, "f.nc", "select the month first")


def test_match_and_particles(d, colfp):
    colfp.to_netcdf(p := d / "col_match.nc", engine="scipy")
    c = read_name_column_footprint(p)
    snd = read_gosat_cci(write_gosat_cci_example(d / "match.nc", n=3)).assign(lat=("sounding", [-20.0, -19.5, -19.0]), lon=("sounding", [-50.0, -49.7, -49.4]))
    snd = snd.assign(time=("sounding", c.time.values + np.timedelta64(1, "s")))
    m = match_soundings(snd.isel(sounding=[2, 0, 1]), c)
    np.testing.assert_array_equal(m.lat, [-20.0, -19.5, -19.0])
    late = snd.assign(time=("sounding", c.time.values + np.timedelta64(3, "s")))      # 3 s late, 5 s apart: the 2nd footprint is nearer the 1st sounding
    expect(lambda: match_soundings(late, c), GridMismatchError, p.name, "'time'", "have the same nearest sounding")
    expect(lambda: match_soundings(snd.assign(time=snd.time + np.timedelta64(1, "h")), c), GridMismatchError, p.name, "'time'", "no sounding within 2min")
    expect(lambda: match_soundings(snd.assign(lon=snd.lon + 2), c), GridMismatchError, p.name, "'release_lon'", "released at")
    w = (m.pressure_weight * m.ak).isel(level=slice(0, 17)).sum("level").values
    cc = c.assign(particle_total=("time", w))
    assert np.abs(check_column_particles(cc, m)).max() < 1e-12
    expect(lambda: check_column_particles(cc.assign_attrs(max_level=12), m), InputError, p.name, "do not belong together")


@pytest.mark.skipif(not HAVE, reason="needs the development data folder inversion_real")
def test_real_gosat_brazil():
    from carbonflux_nb.inputs import real_input
    snd = read_gosat_cci(real_input("gosat_ch4_brazil_2013/gosat-fts_gosat_20130101_ch4-column.nc"))
    fpc = read_name_column_footprint(real_input("gosat_ch4_brazil_2013/GOSAT-BRAZIL-column_SOUTHAMERICA_201301.nc"))
    assert dict(snd.sizes) == {"sounding": 25, "level": 20} and fpc.attrs["max_level"] == 17
    m = match_soundings(snd, fpc)
    assert np.abs(check_column_particles(fpc, m)).max() < 1e-4       # ACRG's footprints are sum_{l<17} h a F_l of these soundings
    L = fpc.attrs["max_level"]
    flux = xr.open_dataset(real_input("gosat_ch4_brazil_2013/ch4_SOUTHAMERICA_2016_SWAMPS-v32-5_Saunois-Annual-Mean.nc")).flux.isel(time=0).drop_vars("time").load()
    prior = column_apriori_term(m.pressure_weight, m.ak, m.apriori, L)
    y = column_forward(fpc.fp, flux, prior)
    direct = np.array([(fpc.fp.values[s] * flux.values).sum() + sum(m.pressure_weight.values[s, l] * m.apriori.values[s, l] *
                       ((1 - m.ak.values[s, l]) if l < L else 1) for l in range(20)) for s in range(25)])
    np.testing.assert_allclose(y, direct, rtol=1e-12)
    enh = column_forward(fpc.fp, flux).values * 1e9
    assert 0.5 < enh.min() and enh.max() < 25 and 3 < enh.mean() < 8                # ppb: 0.8-20.1, mean 5.1
