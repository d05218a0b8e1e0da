"""The gridded-driver readers (chapter 08d) on files the tests write in the real layouts: ERA5 monthly means (valid_time or
time, latitude 90..-90, longitude 0..360, int16 packing with scale_factor/add_offset/_FillValue, an expver dimension),
MODIS composites (8-day with fill values and class codes, 16-day, monthly, FPAR in percent), the error each bad file
gets, conservative regridding, GPP products, FluxFormer-family models on gridded drivers, and the real P-model GPP
field read as a product (skipped where the development data folder, ../shared/data, is absent)."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from carbonflux_nb.config import get_settings
from carbonflux_nb.core import GridMismatchError, InputError, MissingDataError, Region, TimeAxisError, UnitsError, cell_area
from carbonflux_nb.gridded import (
    PMODEL_GPP,
    composite_days,
    composites_to_monthly,
    gpp_period_totals,
    monthly_sequences,
    read_drivers,
    read_era5_monthly,
    read_gpp_product,
    read_modis,
    real_product_at_hand,
    regrid,
    tetens,
    to_era5_layout,
    write_layout,
)
from carbonflux_nb.inputs import cache_folder

MONTHS = pd.date_range("2019-01-01", periods=3, freq="MS")


def world_like(res=10.0, months=MONTHS) -> xr.Dataset:
    "Smooth monthly drivers on a global grid in the project's convention (lat ascending, lon -180..180), units as twin.land."
    lat, lon = np.arange(-90 + res / 2, 90, res), np.arange(-180 + res / 2, 180, res)
    la, lo, m = np.deg2rad(lat)[None, :, None], np.deg2rad(lon)[None, None, :], np.arange(len(months))[:, None, None]
    ta = 25 - 30 * np.sin(la) ** 2 + 3 * np.sin(lo) + m
    f = lambda a, u: (("time", "lat", "lon"), np.broadcast_to(a, (len(months), lat.size, lon.size)).astype(np.float32), {"units": u})
    return xr.Dataset({"ta": f(ta, "degC"), "vpd": f(tetens(ta) * (0.3 + 0.2 * np.cos(lo) ** 2), "hPa"),   # relative humidity 50-70 %
                       "prec": f(2 + np.cos(lo) + 0.1 * m, "mm d-1"), "srad": f(150 + 100 * np.cos(la) + 0 * lo, "W m-2"),
                       "sw": f(0.3 + 0.05 * np.sin(lo) + 0 * la, "1")}, coords={"time": months, "lat": lat, "lon": lon})


@pytest.fixture
def era5_file(tmp_path) -> tuple:
    "An ERA5 monthly-means file of `world_like` in the Data Store's layout (valid_time, 90..-90, 0..360, int16)."
    w = world_like()
    return w, write_layout(to_era5_layout(w), tmp_path / "era5.nc")


def test_era5_layout_is_read_back(era5_file):
    w, path = era5_file
    raw = xr.open_dataset(path, mask_and_scale=False)
    assert raw.t2m.dtype == np.int16 and "scale_factor" in raw.t2m.attrs and "_FillValue" in raw.t2m.attrs
    assert list(raw.t2m.dims) == ["valid_time", "latitude", "longitude"] and raw.latitude[0] > 0 and raw.longitude.max() > 180
    d = read_era5_monthly(path).load()
    assert list(d.dims) == ["time", "lat", "lon"] or set(d.dims) == {"time", "lat", "lon"}
    np.testing.assert_array_equal(d.lat, w.lat); np.testing.assert_array_equal(d.lon, w.lon)     # sorted, -180..180
    for v, tol in {"ta": 2e-3, "vpd": 2e-3, "prec": 1e-4, "srad": 5e-3, "sw": 1e-5}.items():
        np.testing.assert_allclose(d[v].values, w[v].values, atol=tol, err_msg=v)
    assert d.ta.attrs["units"] == "degC" and d.prec.attrs["units"] == "mm d-1" and d.srad.attrs["units"] == "W m-2"


def test_hand_packed_era5_with_fill_and_time_name(tmp_path):
    "A file packed by hand as the Data Store does (no helper of the module): K in int16, a fill value, the older `time` name."
    lat, lon = np.array([10.0, 0.0, -10.0]), np.array([0.0, 90.0, 180.0, 270.0])
    t2m_k = np.array([[[300.0, 290.0, 280.0, 270.0], [299.0, 289.0, 279.0, 269.0], [298.0, 288.0, 278.0, 268.0]]])
    raw = np.round((t2m_k - 285.0) / 0.002).astype(np.int16); raw[0, 1, 2] = -32767
    d2m_raw = np.round((t2m_k - 5 - 285.0) / 0.002).astype(np.int16)
    ds = xr.Dataset({"t2m": (("time", "latitude", "longitude"), raw, {"units": "K", "scale_factor": 0.002, "add_offset": 285.0}),
                     "d2m": (("time", "latitude", "longitude"), d2m_raw, {"units": "K", "scale_factor": 0.002, "add_offset": 285.0})},
                    coords={"time": pd.to_datetime(["2020-07-01"]), "latitude": lat, "longitude": lon})
    for v in ds.data_vars: ds[v].encoding = {"_FillValue": np.int16(-32767)}
    path = write_layout(ds, tmp_path / "era5_old.nc")
    d = read_era5_monthly(path, ["ta", "vpd"]).isel(time=0).load()
    assert list(d.lon.values) == [-180.0, -90.0, 0.0, 90.0] and list(d.lat.values) == [-10.0, 0.0, 10.0]
    np.testing.assert_allclose(float(d.ta.sel(lat=10, lon=-90)), 270.0 - 273.15, atol=2e-3)      # 270 E is 90 W
    assert np.isnan(float(d.ta.sel(lat=0, lon=-180)))                                            # the fill value (at 180 E)
    ta = float(d.ta.sel(lat=-10, lon=0))
    np.testing.assert_allclose(float(d.vpd.sel(lat=-10, lon=0)), tetens(ta) - tetens(ta - 5), rtol=1e-3)


def test_expver_is_merged(era5_file, tmp_path):
    w, path = era5_file
    ds = xr.open_dataset(path).load()
    final, prelim = ds.where(ds.valid_time < MONTHS[2]), ds.where(ds.valid_time >= MONTHS[2])
    both = xr.concat([final, prelim], pd.Index([1, 5], name="expver"))
    for v in both.data_vars: both[v].encoding = {}
    d = read_era5_monthly(write_layout(both, tmp_path / "expver.nc")).load()
    assert "expver" not in d.dims and int(d.ta.isnull().sum()) == 0
    np.testing.assert_allclose(d.ta.values, w.ta.values, atol=2e-3)


def era5_variant(path, tmp_path, name, change):
    ds = xr.open_dataset(path, mask_and_scale=False).load()
    return write_layout(change(ds), tmp_path / name)


@pytest.mark.parametrize("name,change,error,words", [
    ("no_tp.nc", lambda d: d.drop_vars("tp"), InputError, "variable 'tp': no variable 'tp'"),
    ("tp_mm.nc", lambda d: d.assign(tp=d.tp.assign_attrs(units="mm")), UnitsError, "variable 'tp': units 'mm'"),
    ("t2m_f.nc", lambda d: d.assign(t2m=d.t2m.assign_attrs(units="degF")), UnitsError, "variable 't2m': units 'degF'"),
    ("ssrd_none.nc", lambda d: d.assign(ssrd=d.ssrd.drop_attrs()), UnitsError, "variable 'ssrd': no units attribute"),
    ("dup.nc", lambda d: d.assign_coords(valid_time=d.valid_time.values[[0, 1, 1]]), TimeAxisError, "duplicated time stamps"),
    ("order.nc", lambda d: d.assign_coords(valid_time=d.valid_time.values[[0, 2, 1]]), TimeAxisError, "not increasing"),
    ("daily.nc", lambda d: d.assign_coords(valid_time=pd.date_range("2019-01-01", periods=3, freq="D")), TimeAxisError, "not monthly means"),
    ("allfill.nc", lambda d: d.assign(tp=d.tp.copy(data=np.full(d.tp.shape, -32767, np.int16))), MissingDataError,
     "variable 'prec': all values are missing"),
    ("irregular.nc", lambda d: d.assign_coords(latitude=np.r_[d.latitude.values[:-1], -89.0]), GridMismatchError, "not regularly spaced"),
    ("nolat.nc", lambda d: d.rename(latitude="y"), GridMismatchError, "no lat dimension"),
])
def test_bad_era5_files(era5_file, tmp_path, name, change, error, words):
    "Each bad file stops with the error class, the file name and the variable in the message."
    path = era5_variant(era5_file[1], tmp_path, name, change)
    with pytest.raises(error, match=None) as e: read_era5_monthly(path)
    assert name in str(e.value) and words in str(e.value), str(e.value)


def modis_8day(tmp_path, months_of=(2019,), fill_at=(), code_at=(), fpar_units="1", name="modis.nc") -> tuple:
    "An 8-day MCD15A2H-like file on a 1-degree grid: LAI uint8 x 0.1, FPAR uint8 x 0.01, valid range 0-100, fill 255."
    t = pd.DatetimeIndex([pd.Timestamp(y, 1, 1) + pd.Timedelta(days=8 * i) for y in months_of for i in range(46)])
    lat, lon = np.array([1.5, 0.5]), np.array([10.5, 11.5])
    lai = (30 + 20 * np.sin(np.arange(len(t)) / 7.0))[:, None, None] + np.array([[0, 5], [10, 15]])[None]   # raw: 0.1 m2 m-2
    raw = np.round(lai).astype(np.uint8)
    for (i, y, x) in fill_at: raw[i, y, x] = 255
    for (i, y, x) in code_at: raw[i, y, x] = 253                                                 # a class code (e.g. barren)
    enc = {"_FillValue": np.uint8(255)}
    ds = xr.Dataset({"Lai_500m": (("time", "lat", "lon"), raw, {"units": "m^2/m^2", "scale_factor": 0.1, "valid_range": np.array([0, 100], np.uint8)}),
                     "Fpar_500m": (("time", "lat", "lon"), raw // 2, {"units": fpar_units, "scale_factor": 0.01, "valid_range": np.array([0, 100], np.uint8)})},
                    coords={"time": t, "lat": lat, "lon": lon})
    for v in ds.data_vars: ds[v].encoding = dict(enc)
    return t, np.where(raw > 100, np.nan, raw * 0.1), write_layout(ds, tmp_path / name)


def daily_monthly_means(t, values, min_days=0.5) -> np.ndarray:
    "Monthly means of composites by another route: every day takes its composite's value, then calendar means (pandas)."
    days = pd.date_range(t[0], f"{t[-1].year}-12-31", freq="D")
    comp = np.searchsorted(t.values, days.values, side="right") - 1
    daily = pd.DataFrame(values[comp].reshape(len(days), -1), index=days)
    g = daily.groupby(days.to_period("M"))
    return np.where(g.count().to_numpy() >= min_days * g.size().to_numpy()[:, None], g.mean().to_numpy(), np.nan)


def test_modis_8day_with_fills(tmp_path):
    fills = [(4, 0, 0), (5, 0, 0), (6, 0, 0), (3, 1, 1)]                  # February cloudy in one cell, one composite in another
    t, lai, path = modis_8day(tmp_path, fill_at=fills)
    m = read_modis(path).load()
    assert set(m.data_vars) == {"lai", "fapar"} and m.sizes["time"] == 12 and m.lai.attrs["units"] == "m2 m-2"
    want = daily_monthly_means(t, lai).reshape(12, 2, 2)[:, ::-1]        # the file's lat is 1.5, 0.5: read ascending
    np.testing.assert_allclose(m.lai.values, want, rtol=1e-5)
    assert np.isnan(float(m.lai.sel(time="2019-02-01", lat=1.5, lon=10.5)))   # 4 of 28 days valid
    np.testing.assert_allclose(m.fapar.values, daily_monthly_means(t, np.floor(np.round(lai * 10) / 2) / 100).reshape(12, 2, 2)[:, ::-1],
                               rtol=1e-5)


def test_modis_class_codes_are_masked_with_a_warning_or_raise(tmp_path):
    "Codes above the declared valid range are masked silently; without a valid range they are caught by the physical range."
    t, lai, path = modis_8day(tmp_path, code_at=[(10, 0, 0)])
    assert np.isfinite(read_modis(path).lai.values).all()                 # masked by valid_range: the month still has data
    ds = xr.open_dataset(path, mask_and_scale=False).load()
    for v in ds.data_vars: ds[v].attrs.pop("valid_range"); ds[v].encoding = {"_FillValue": ds[v].attrs.pop("_FillValue")}
    p2 = write_layout(ds, tmp_path / "no_range.nc")
    with pytest.warns(UserWarning, match="1 values of Lai_500m outside"): read_modis(p2)
    with pytest.raises(InputError, match="no_range.nc, variable 'Lai_500m': 1 value outside"): read_modis(p2, out_of_range="raise")


def test_modis_fpar_percent_and_units(tmp_path):
    t, lai, path = modis_8day(tmp_path, fpar_units="Percent")             # MCD15A2H's label: scaled by 0.01 it is a fraction
    m = read_modis(path).load()
    assert float(m.fapar.max()) <= 1.0 and float(m.fapar.max()) > 0.05
    _, _, bad = modis_8day(tmp_path, fpar_units="m2 m-2", name="bad_units.nc")
    with pytest.raises(UnitsError, match="bad_units.nc, variable 'Fpar_500m': units 'm2 m-2'"): read_modis(bad)
    with pytest.raises(InputError, match="no variable for 'evi'"): read_modis(path, drivers=["lai", "evi"])


@pytest.mark.parametrize("step,n", [(8, 46), (16, 23)])
def test_composite_calendars(step, n):
    t = pd.DatetimeIndex([pd.Timestamp(2020, 1, 1) + pd.Timedelta(days=step * i) for i in range(n)]
                         + [pd.Timestamp(2021, 1, 1) + pd.Timedelta(days=step * i) for i in range(n)])
    c = composite_days(t)
    assert c.days.iloc[n - 1] == 366 - step * (n - 1) and c.days.iloc[-1] == step      # the year's last is shorter; the file's last its period
    monthly = composite_days(pd.date_range("2020-01-01", periods=14, freq="MS"))
    assert list(monthly.days[:3]) == [31, 29, 31]
    x = xr.DataArray(np.ones((14, 1, 1)), dims=("time", "lat", "lon"), coords={"time": pd.date_range("2020-01-01", periods=14, freq="MS"), "lat": [0.0], "lon": [0.0]})
    assert composites_to_monthly(x).sizes["time"] == 14


def test_drivers_together_and_their_errors(era5_file, tmp_path):
    w, e_path = era5_file
    mod = w[["ta"]].rename(ta="LAI").assign(LAI=lambda d: (d.LAI * 0 + 2.0).assign_attrs(units="m2 m-2"))
    mod = mod.assign_coords(time=MONTHS)                                    # monthly composites on the same 10-degree grid
    m_path = write_layout(mod, tmp_path / "modis_monthly.nc")
    d = read_drivers(e_path, m_path)
    assert set(d.data_vars) == {"ta", "vpd", "prec", "srad", "sw", "lai"} and d.sizes["time"] == 3
    coarse = read_drivers(e_path, m_path, grid=Region("globe", -180, 180, -90, 90, 30.0).grid())
    assert coarse.sizes["lat"] == 6 and coarse.sizes["lon"] == 12 and coarse.ta.attrs["regridding"] == "conservative"
    other = write_layout(mod.coarsen(lat=2, lon=2).mean().assign(LAI=lambda x: x.LAI.assign_attrs(units="m2 m-2")), tmp_path / "modis_20deg.nc")
    with pytest.raises(GridMismatchError, match="pass grid="): read_drivers(e_path, other)
    later = write_layout(mod.assign_coords(time=pd.date_range("2021-01-01", periods=3, freq="MS")), tmp_path / "modis_2021.nc")
    with pytest.raises(TimeAxisError, match="no month in common"): read_drivers(e_path, later)
    far = Region("nowhere", -10, 10, -10, 10, 5.0).grid()
    with pytest.raises(MissingDataError, match="all values are missing"):
        read_drivers(e_path, write_layout(mod.where(mod.lat > 30), tmp_path / "north.nc"), grid=far)


def test_conservative_regrid_keeps_the_area_integral():
    "ERA5's 0.25-degree points (cells that do not nest in 0.5-degree ones) onto 0.5 and 2.5 degrees: the global integral stays."
    lat, lon = np.linspace(90, -90, 721), np.arange(0, 360, 0.25)
    r = np.random.default_rng(1)
    src = xr.DataArray(r.gamma(2.0, size=(721, 1440)), dims=("latitude", "longitude"), coords={"latitude": lat, "longitude": lon})
    from carbonflux_nb.gridded import normalise_grid
    src = normalise_grid(src)
    total = float((src * cell_area(src.lat, src.lon)).sum())
    for res in (0.5, 2.5):
        out = regrid(src, Region("globe", -180, 180, -90, 90, res).grid())
        np.testing.assert_allclose(float((out * cell_area(out.lat, out.lon)).sum()), total, rtol=1e-5)


def cmip_product(tmp_path, months=12) -> tuple:
    w = world_like(months=pd.date_range("2019-01-01", periods=months, freq="MS"))
    gpp = (w.srad / 50).assign_attrs(units="gC m-2 d-1").rename("gpp")
    ds = (gpp / 86400 / 1000).assign_attrs(units="kg m-2 s-1").to_dataset(name="gpp")   # CMIP: kg of carbon m-2 s-1
    ds = ds.isel(lat=slice(None, None, -1)).assign_coords(lon=ds.lon % 360).sortby("lon").rename(lat="latitude", lon="longitude")
    return gpp, write_layout(ds, tmp_path / "gpp_cmip.nc")


def test_gpp_product_as_the_comparisons_take_it(tmp_path):
    from carbonflux_nb.gpp.automl_products import at_towers, product_comparison
    from carbonflux_nb.gpp.fluxformer_products import check_product, global_totals
    gpp, path = cmip_product(tmp_path)
    p = read_gpp_product(path)
    assert p.attrs["units"] == "gC m-2 d-1" and p.name == "gpp" and list(p.dims) == ["time", "lat", "lon"]
    np.testing.assert_allclose(p.values, gpp.values, rtol=1e-6)
    check_product(p)                                                      # the FluxFormer product chapter takes it
    np.testing.assert_allclose(global_totals(p).values, global_totals(gpp).values, rtol=1e-6)
    towers = pd.DataFrame({"site": ["a", "b"], "pft": ["GRA", "ENF"], "time": pd.to_datetime(["2019-03-01", "2019-07-01"]),
                           "lat": [45.0, -15.0], "lon": [5.0, -55.0]})
    towers["gpp"] = [float(gpp.sel(time=t, lat=la, lon=lo)) for t, la, lo in zip(towers.time, towers.lat, towers.lon)]
    long = at_towers({"cmip": p}, towers)
    np.testing.assert_allclose(long.pred, towers.gpp, rtol=1e-6)
    assert product_comparison(long, by=["product"]).n.iloc[0] == 2


@pytest.mark.parametrize("what", ["no_units", "conflict", "not_dates", "two_vars"])
def test_gpp_product_errors(tmp_path, what):
    gpp, path = cmip_product(tmp_path, months=2)
    ds = xr.open_dataset(path).load()
    if what == "no_units":
        ds["gpp"].attrs.pop("units"); p = write_layout(ds, tmp_path / "x.nc")
        with pytest.raises(UnitsError, match="x.nc, variable 'gpp': no units attribute"): read_gpp_product(p)
        np.testing.assert_allclose(read_gpp_product(p, file_units="kgC m-2 s-1").values, gpp.values, rtol=1e-6)
    elif what == "conflict":
        with pytest.raises(UnitsError, match="file_units='gC m-2 d-1' says otherwise"): read_gpp_product(path, file_units="gC m-2 d-1")
    elif what == "not_dates":
        ds = ds.assign_coords(time=[1, 2]).rename(time="Time"); ds.Time.attrs["units"] = "months starting 01/01/2019"
        p = write_layout(ds, tmp_path / "x.nc")
        with pytest.raises(TimeAxisError, match="pass times="): read_gpp_product(p)
        assert read_gpp_product(p, times=MONTHS[:2]).time.dt.month.values.tolist() == [1, 2]
    else:
        p = write_layout(ds.assign(npp=ds.gpp / 2), tmp_path / "x.nc")
        assert read_gpp_product(p).attrs["product"] == "x"                 # the one named gpp
        p = write_layout(ds.rename(gpp="flux").assign(other=ds.gpp / 2), tmp_path / "y.nc")
        with pytest.raises(InputError, match="which variable is GPP"): read_gpp_product(p)


def test_fluxformer_family_on_gridded_drivers(tmp_path):
    "A model of chapter 31 trained on the FLUXNET2015 sites predicts every cell-month of drivers read from files."
    from carbonflux_nb.datasets import load_fluxnet2015_monthly
    from carbonflux_nb.gpp.fluxformer import MonthlyModels
    from carbonflux_nb.gpp.fluxformer_data import fluxnet_data, to_grid
    from carbonflux_nb.gridded import to_modis_layout
    from carbonflux_nb.twin.land import build_world, monthly, world_spec
    spec = world_spec("tibet", "tiny", years=(2017, 2018))
    world = build_world(spec); world_m = monthly(world)
    drivers = read_drivers(write_layout(to_era5_layout(world_m, ("ta", "vpd", "prec", "srad")), tmp_path / "e.nc"),
                           write_layout(to_modis_layout(world, ("lai", "evi")), tmp_path / "m.nc"), grid=world_m,
                           era5_drivers=["ta", "vpd", "prec", "srad"]).load()
    df = load_fluxnet2015_monthly()
    model = MonthlyModels("xgboost", progress=False, seed=0, n_estimators=60, max_depth=4).fit(fluxnet_data(df), "none")
    seq = monthly_sequences(drivers, 2018)
    gpp = to_grid(model.predict(seq, "none"), seq, drivers)
    assert gpp.sizes["time"] == 12 and int(gpp.notnull().sum()) == 12 * int(world_m.land.sum())   # every land cell-month
    assert 0 <= float(gpp.mean()) < 10
    summer, winter = (float(gpp.sel(time=f"2018-{m:02d}-01").mean()) for m in (7, 1))
    assert summer > winter                                                # the plateau's seasonal cycle


def pmodel_at_hand() -> bool:
    "The real P-model field is in the cache or the development folder (it is never downloaded here)."
    return (cache_folder() / PMODEL_GPP).is_file() or (get_settings().data_dir / "inversion_real" / PMODEL_GPP).is_file()


@pytest.mark.skipif(not pmodel_at_hand(), reason=f"{PMODEL_GPP} is not at hand (../shared/data absent and not cached)")
def test_real_pmodel_gpp_product(tmp_path):
    """pyrealm's rpmodel global GPP (0.5 degrees, two months) read as a product. The file declares no units and counts time as
    'months starting 01/01/2010' (read as January and February 2010). Read as gC m-2 d-1 its global total is thousands of
    times too large; its values at the FLUXNET2015 towers of those months give the scale (r about 0.4), and with it the
    global total falls within 80-200 Pg C yr-1 scaled to the 59 days."""
    import matplotlib.pyplot as plt

    from carbonflux_nb.datasets import load_fluxnet2015_monthly
    from carbonflux_nb.gpp.automl_products import at_towers, product_comparison
    from carbonflux_nb.maps import plot_map, unlabelled_axes
    path = real_product_at_hand()
    with pytest.raises(UnitsError, match="no units attribute"): read_gpp_product(path, times=MONTHS[:2])
    with pytest.raises(TimeAxisError, match="pass times="): read_gpp_product(path, file_units="gC m-2 d-1")
    raw = read_gpp_product(path, file_units="gC m-2 d-1", times=pd.date_range("2010-01-01", periods=2, freq="MS")).load()
    assert raw.shape == (2, 360, 720) and float(raw.lat[0]) == -89.75 and float(raw.lon[0]) == -179.75
    naive = gpp_period_totals(raw)
    print("read as gC m-2 d-1:\n", naive.round(1).to_string())
    assert naive.loc["period", "PgC"] > 100 * naive.loc["period", "high_PgC"]
    df = load_fluxnet2015_monthly()
    towers = df[df.time.isin(raw.time.values)].rename(columns={"GPP_NT_VUT_REF": "gpp"}).dropna(subset=["gpp"])
    long = at_towers({"pmodel": raw}, towers).dropna(subset=["pred"])
    k = float((long.gpp * long.pred).sum() / (long.pred ** 2).sum())    # least squares through the origin: gC m-2 d-1 per file unit
    scaled = (raw * k).assign_attrs(units="gC m-2 d-1")
    both = at_towers({"pmodel_raw": raw, "pmodel_scaled": scaled}, towers).dropna(subset=["pred"])
    comp = product_comparison(both, by=["product"]).set_index("product")
    print(f"{len(long)} tower-months of {long.site.nunique()} sites; scale {k:.3g} gC m-2 d-1 per unit\n", comp.round(3).to_string())
    np.testing.assert_allclose(comp.loc["pmodel_raw", "r"], comp.loc["pmodel_scaled", "r"], rtol=1e-6)   # r does not see the scale
    assert comp.loc["pmodel_raw", "r"] > 0.35 and len(long) > 150                  # 0.41 here
    totals = gpp_period_totals(scaled)
    print("with the towers' scale:\n", totals.round(2).to_string())
    assert totals.loc["period", "plausible"], totals
    ax = plot_map(scaled.mean("time").assign_attrs(long_name="P-model GPP scaled to the towers"), projection="Robinson",
                  title="P-model GPP, January-February 2010", figsize=(7, 3.2))
    assert unlabelled_axes(ax.figure) == []
    ax.figure.savefig(tmp_path / "pmodel.png", dpi=60); plt.close(ax.figure)
    assert (tmp_path / "pmodel.png").stat().st_size > 10_000
