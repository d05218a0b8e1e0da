"""Chapter 59c's readers: the Southern Ocean station table and the CT2019B/CAMS zonal-mean flux files, on tiny copies
written here (every malformed case names the file, the variable and what is wrong) and on the real files when the
development data folder is present."""
import numpy as np
import pytest
import xarray as xr

from carbonflux_nb.atmos.zonal import (ZONAL_COMPONENTS, band_area, lat_edges, read_so_co2, read_zonal_fluxes,
                                       zonal_total)
from carbonflux_nb.config import get_settings
from carbonflux_nb.core import InputError, MissingDataError, TimeAxisError, UnitsError

HAVE = (get_settings().data_dir / "inversion_real" / "SHA256SUMS.txt").exists()
LOC = "record lat lon alt\nSPO_NOAA_flask -89.98 -24.8 2810\nCGO_CSIRO_insitu -40.683 144.69 164\n"
DAT = "year month SPO_NOAA_flask CGO_CSIRO_insitu\n2010 1 388.1 NA\n2010 2 NaN 388.4\n2010 3 388.3 388.9\n"


def write(tmp_path, dat=DAT, loc=LOC):
    (d := tmp_path / "so.txt").write_text(dat); (l := tmp_path / "loc.txt").write_text(loc)
    return d, l


def test_station_table_long_and_in_mol_per_mol(tmp_path):
    t = read_so_co2(*write(tmp_path))
    assert len(t) == 4 and list(t.columns[:2]) == ["time", "site"]
    np.testing.assert_allclose(sorted(t.value.values), [388.1e-6, 388.3e-6, 388.4e-6, 388.9e-6], rtol=1e-12)
    assert set(t.method) == {"flask", "insitu"} and (t.station.isin(["SPO", "CGO"])).all()
    assert str(t.time.dtype) == "datetime64[ns]"


@pytest.mark.parametrize("dat,loc,err,match", [
    (DAT.replace("388.4", "--"), LOC, InputError, r"so\.txt.*CGO_CSIRO_insitu.*'--' on line 3"),
    (DAT.replace("2010 2", "2010 0"), LOC, TimeAxisError, r"so\.txt.*'month'.*month '0'"),
    (DAT.replace("2010 3", "2010 1"), LOC, TimeAxisError, "not strictly increasing"),
    (DAT.replace("388.9", "-999"), LOC, InputError, r"CGO_CSIRO_insitu"),
    (DAT.replace("year", "yr"), LOC, InputError, r"missing column 'year'"),
    (DAT, "record lat lon alt\nSPO_NOAA_flask -89.98 -24.8 2810\n", InputError, r"no row in the locations file loc\.txt"),
    (DAT, LOC.replace("-40.683", "-95"), InputError, r"loc\.txt.*'lat'.*record CGO_CSIRO_insitu"),
    (DAT, LOC.replace("lon", "long"), InputError, r"missing columns \['lon'\]"),
    (DAT, LOC + "SPO_NOAA_flask -89.98 -24.8 2810\n", InputError, "records listed twice"),
    (DAT, LOC.replace("_insitu", "_bucket"), InputError, "STATION_LAB"),
    ("", LOC, InputError, "not a whitespace-separated|no rows"),
])
def test_station_table_malformed(tmp_path, dat, loc, err, match):
    with pytest.raises(err, match=match): read_so_co2(*write(tmp_path, dat, loc))


def flux_file(tmp_path, name="f", **change):
    lat = np.arange(-75.0, 90, 30.0)
    ds = xr.Dataset({v: (("time", "lat"), np.full((3, lat.size), 0.01), {"units": "Pg C yr$^{-1}$ degree$^{-1}$"}) for v in ZONAL_COMPONENTS},
                    coords={"time": ("time", [0.0, 730.0, 1460.0], {"units": "hours since 2000-01-15 12:00:00"}), "lat": lat})
    for k, f in change.items(): ds = f(ds)
    ds.to_netcdf(p := tmp_path / f"{name}.nc")
    return p


def test_zonal_flux_roundtrip(tmp_path):
    F = read_zonal_fluxes(flux_file(tmp_path))
    assert F.dims == ("component", "time", "lat") and F.attrs["units"] == "mol m-2 s-1"
    assert str(F.time.values[1])[:10] == "2000-02-01"
    # 6 bands x 30 degrees x 0.01 Pg C yr-1 degree-1 = 1.8 Pg C yr-1 globally; half of it south of the equator
    np.testing.assert_allclose(zonal_total(F, 90, -90).values, 1.8, rtol=1e-12)
    np.testing.assert_allclose(zonal_total(F, 0).values, 0.9, rtol=1e-12)
    np.testing.assert_allclose(band_area(*lat_edges(F.lat.values)[[0, -1]]), 4 * np.pi * 6371007.2 ** 2, rtol=1e-12)


def _setv(v, i, x):
    def f(ds):
        a = ds[v].values.copy(); a[i] = x
        return ds.assign({v: (ds[v].dims, a, ds[v].attrs)})
    return f


@pytest.mark.parametrize("change,err,match", [
    (lambda ds: ds.assign(SFCO2_OCN=ds.SFCO2_OCN.assign_attrs(units="kg m-2 s-1")), UnitsError, r"'SFCO2_OCN': units 'kg m-2 s-1'"),
    (_setv("SFCO2_LND", (2, 1), np.nan), MissingDataError, r"'SFCO2_LND'.*first at 2000-03, lat -45"),
    (_setv("SFCO2", (0, 0), 1e4), InputError, r"'SFCO2'.*physical range"),
    (lambda ds: ds.drop_vars("SFCO2_FFF"), InputError, r"missing flux variables \['SFCO2_FFF'\]"),
    (lambda ds: ds.assign_coords(time=("time", [0.0, 10.0, 730.0], ds.time.attrs)), TimeAxisError, "months repeated"),
    (lambda ds: ds.assign_coords(time=("time", [0.0, 10.0, 730.0], {"units": "fortnights"})), TimeAxisError, "cannot decode time"),
    (lambda ds: ds.assign_coords(lat=ds.lat.values[[1, 0, 2, 3, 4, 5]]), InputError, r"'lat'.*not strictly monotonic"),
    (lambda ds: ds.assign_coords(lat=ds.lat.values + 20), InputError, r"'lat'"),
])
def test_zonal_flux_malformed(tmp_path, change, err, match):
    with pytest.raises(err, match=match): read_zonal_fluxes(flux_file(tmp_path, c=change))


def test_zonal_total_limits():
    F = xr.DataArray(np.ones((1, 2)), dims=("time", "lat"), coords={"lat": [-45.0, 45.0]})
    with pytest.raises(InputError, match="lat_south"): zonal_total(F)
    with pytest.raises(InputError, match="north_of < south_of"): zonal_total(F.assign_coords(lat_south=("lat", [-90, 0]), lat_north=("lat", [0, 90])), -50, -20)


@pytest.mark.skipif(not HAVE, reason="no development data folder")
def test_real_files():
    from carbonflux_nb.inputs import real_input
    d = "ct_cams_zonal_southern_ocean/"
    so = read_so_co2(real_input(d + "SO_CO2_monthly.txt"), real_input(d + "SO_CO2_locations.txt"))
    assert so.site.nunique() == 32 and so.value.between(355e-6, 415e-6).all()
    ct = read_zonal_fluxes(real_input(d + "CT2019B_fluxes_za_ts_monthly.nc"))
    assert ct.sizes == {"component": 4, "time": 228, "lat": 180}
    oc = zonal_total(ct.sel(component="ocean", time=slice("2005", "2015"))).mean().item()
    assert -1.6 < oc < -1.0
