"""Build carbonflux_nb/data/inversion/ch4_EUROPE_201312_acrg.nc: ACRG's December 2013 CH4 flux field over EUROPE.

ACRG's forward-model benchmark (Benchmark_ch4_EUROPE_fp_and_data_site.nc, MHD, Feb 2014) used the DECEMBER 2013 field
of its 12-month ch4_EUROPE_2013.nc (forward-filled to Feb 2014). The repository ships only the first (January) field
of that file (ch4_EUROPE_reduced_2013.nc); the December field survives inside ACRG's own pickle of the same merge,
tests/files/LPDM/benchmark/Benchmark_ch4_EUROPE_fp_and_data_all.pickle (github:ACRG-Bristol/acrg, MIT).

The pickle is read with a restricted unpickler: numpy arrays are rebuilt, every other class becomes an inert stub
whose state is kept as data, so no code of the pickle runs. Run from the repository root:

    /work/main/.venv/bin/python tools/build_acrg_dec2013_flux.py [--mirror /work/.mirror/ACRG-Bristol+acrg/repo]

It needs a git mirror of ACRG-Bristol/acrg (the commit is recorded in the output's attributes) and the shared
data's ch4_EUROPE_reduced_2013.nc for the grid (checked to equal the pickle's).
"""
import argparse, io, pickle, subprocess, warnings
from pathlib import Path
import numpy as np, pandas as pd, xarray as xr

PICKLE = "tests/files/LPDM/benchmark/Benchmark_ch4_EUROPE_fp_and_data_all.pickle"
OUT = Path(__file__).resolve().parents[1] / "carbonflux_nb/data/inversion/ch4_EUROPE_201312_acrg.nc"


class _Stub:
    def __setstate__(self, st): self.state = st


class _Restricted(pickle.Unpickler):
    "numpy arrays only; every other global becomes an inert stub (nothing of the pickle's code runs)."
    def find_class(self, mod, name):
        if mod.startswith("numpy"):
            import numpy.core.multiarray as m
            allowed = {"_reconstruct": m._reconstruct, "scalar": m.scalar, "ndarray": np.ndarray, "dtype": np.dtype}
            if name not in allowed: raise pickle.UnpicklingError(f"refused numpy global {mod}.{name}")
            return allowed[name]
        if (mod, name) == ("builtins", "set"): return set
        if name.startswith("_new"):
            def f(*a, **k):
                o = _Stub(); o.args = a; return o
            return f
        return type(name, (_Stub,), {})


def december_field(mirror: Path):
    "(flux (lat, lon), lat, lon, time, source file name, commit) from the pickle at the mirror's HEAD."
    commit = subprocess.run(["git", "-C", str(mirror), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    raw = subprocess.run(["git", "-C", str(mirror), "show", f"HEAD:{PICKLE}"], capture_output=True, check=True).stdout
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = _Restricted(io.BytesIO(raw), encoding="latin1").load()
    st = d[".flux"]["all"].state[1]
    var = lambda v: st["_variables"][v].state[1]["_data"]
    flux = np.asarray(var("flux"), float)
    def index(v):                                                     # a pandas Index's stored values
        data = var(v).state[1]["array"].args[1]["data"]
        return data if isinstance(data, np.ndarray) else data.state["_data"]     # Float64Index: an array; DatetimeArray: a stub
    lat, lon = (np.asarray(index(c), float) for c in ("lat", "lon"))
    t = index("time")
    return flux[:, :, 0], lat, lon, pd.Timestamp(t[0]), st["_encoding"].get("source"), commit


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mirror", default="/work/.mirror/ACRG-Bristol+acrg/repo")
    ap.add_argument("--grid", default="/work/shared/data/inversion_real/ch4_europe_2014/ch4_EUROPE_reduced_2013.nc")
    a = ap.parse_args()
    flux, lat, lon, t, src, commit = december_field(Path(a.mirror))
    with xr.open_dataset(a.grid) as g:
        glat, glon = g.lat.values.astype(float), g.lon.values.astype(float)
    if flux.shape != (glat.size, glon.size): raise SystemExit(f"pickle flux shape {flux.shape} != grid {(glat.size, glon.size)}")
    if not (np.allclose(lat, glat, atol=1e-4) and np.allclose(lon, glon, atol=1e-4)): raise SystemExit("the pickle's grid differs from the grid file's")
    if t != pd.Timestamp("2013-12-01"): raise SystemExit(f"the pickle's flux is for {t}, not December 2013")
    if not (np.isfinite(flux).all() and (flux > -1e-5).all() and flux.max() < 1e-4): raise SystemExit("flux values out of range for mol m-2 s-1")
    ds = xr.Dataset({"flux": (("time", "lat", "lon"), flux[None].astype(np.float64),
                              {"units": "mol/m2/s", "long_name": "total CH4 emissions, December 2013"})},
                    coords={"time": [np.datetime64("2013-12-01", "ns")], "lat": glat, "lon": glon},
                    attrs={"title": "ACRG's December 2013 CH4 flux field over EUROPE (the field its forward-model benchmark used)",
                           "source": f"github:ACRG-Bristol/acrg@{commit}:{PICKLE} ('.flux'['all'], encoding source {src})",
                           "licence": "MIT (ACRG-Bristol/acrg)", "built_by": "tools/build_acrg_dec2013_flux.py (restricted unpickler, numpy only)"})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(OUT, encoding={"flux": {"zlib": True, "complevel": 9, "shuffle": True}})
    print(f"wrote {OUT} ({OUT.stat().st_size:,} B): {t:%Y-%m}, shape {flux.shape}, domain mean {flux.mean():.4g} mol m-2 s-1, from {commit[:7]}")


if __name__ == "__main__":
    main()
