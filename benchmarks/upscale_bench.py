#!/usr/bin/env python
"""Benchmark of gridded upscaling: a fitted LightGBM model predicted over three grid sizes, eagerly with numpy
and chunk by chunk with dask (threads, and the LocalCluster of `carbonflux_nb.upscale.dask_client`).

For every grid size (1x, 4x, 16x cells by default) the drivers (8 predictors, 24 months) are generated
deterministically and written chunk by chunk to a Zarr store under `benchmarks/_work/`; every run opens that
store lazily with `io.read_zarr`, so the data start on disk, as they would for a real region.

Paths, each measured in a fresh Python process (the script re-invokes itself with `--one PATH SIZE`):

* `numpy (eager)`: load every driver into one (cells x months, features) float32 table, one `model.predict`
  (LightGBM on both cores), predictions put back on the grid.
* `dask threads`: `upscale` on the threaded scheduler (2 threads), the model with n_jobs=1.
* `dask distributed`: `upscale` on the LocalCluster from `dask_client()` (2 worker processes x 1 thread).

By default every path ends by writing its predictions with `io.write_zarr` (for dask: the lazy result of
`upscale(..., compute=False)`, chunk by chunk), inside the timed call; `--sink memory` instead returns them in
memory (`upscale(..., scheduler=...)` with compute=True). `--layout` and `--inline-array` select the store
layout and how it is opened; README.md shows what they change.

Reported per run: wall time of the prediction call only (opening the store, imports, cluster start-up and
a warm-up on a tiny store are done before the clock starts), throughput in cell-months per second, and the
peak increase of the resident memory of the whole process tree (this process plus dask's worker processes,
sampled every 10 ms) over its value just before the store is opened. Predictions of the three paths are
compared on every size; the script fails if they differ.

    .venv/bin/python benchmarks/upscale_bench.py                 # the full benchmark (see README.md)
    .venv/bin/python benchmarks/upscale_bench.py --quick         # a smoke run on small grids
"""
from __future__ import annotations
import argparse, gc, json, math, os, pickle, platform, re, subprocess, sys, threading, time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parent.parent           # the project checkout (holds settings.ini)
WORK = Path(__file__).resolve().parent / "_work"        # git-ignored scratch space: stores, model, predictions
GEN_VERSION = 1                                         # bump when the driver generator changes (new store names)

# The predictors, in training order, with their units; `elev` is static (lat, lon), the others monthly.
FEATURES = ["ta", "sw", "vpd", "precip", "swc", "lai", "fapar", "elev"]
UNITS = {"ta": "degC", "sw": "W m-2", "vpd": "hPa", "precip": "mm d-1", "swc": "1", "lai": "1", "fapar": "1",
         "elev": "m"}
DYNAMIC = FEATURES[:-1]
PATHS = {"eager": "numpy (eager)", "threads": "dask threads", "distributed": "dask distributed"}

# Grid of the 1x size: a 30 x 60 degree box (East Asia and the Tibetan Plateau) at `base_res` degrees; size k
# refines the resolution by sqrt(k), so it has k times the cells. `chunk_cells` is upscale's max_chunk_cells.
BOX = dict(lon_min=70.0, lon_max=130.0, lat_min=10.0, lat_max=40.0)
FULL = dict(base_res=0.5, months=24, chunk_cells=100_000)     # 1x: 60 x 120 cells x 24 months
QUICK = dict(base_res=1.0, months=12, chunk_cells=10_000)     # 1x: 30 x 60 cells x 12 months


# ----------------------------------------------------------------------------------------------------------
# Synthetic drivers and target: smooth climatologies plus noise, so that a tree model has something to learn.
# Everything is a function of (lat, lon, month of year) and standard-normal noise `z`, so that the training
# table and the grids come from the same distribution.

def elevation(lat, lon, z):
    "Elevation (m): ridges plus a plateau near 32N 90E, with noise `z`."
    ridges = 1200 * np.sin(np.deg2rad(3 * lon)) * np.cos(np.deg2rad(4 * lat))
    plateau = 3500 * np.exp(-((lat - 32) ** 2 + (lon - 90) ** 2 / 4) / 30)
    return np.clip(1500 + ridges + plateau + 100 * z, 0, None)

def dynamic_drivers(lat, lon, moy, elev, z) -> dict:
    "The monthly predictors at (lat, lon, month of year `moy`); `z` holds 6 standard-normal noise fields."
    season = np.sin(2 * np.pi * (moy - 4) / 12)                                  # peaks in July
    amp = 0.5 + (lat - 10) / 30                                                  # stronger seasons up north
    ta = 27 - 0.45 * (lat - 10) + 10 * amp * season - 0.0065 * elev + 1.5 * z[0]                  # degC
    sw = np.clip(220 + 90 * season - 1.5 * (lat - 10) + 25 * z[1], 5, None)                        # W m-2
    rh = np.clip(0.55 + 0.25 * np.sin(np.deg2rad(2 * lon - 140)) + 0.1 * season + 0.08 * z[2], 0.05, 0.98)
    vpd = 6.112 * np.exp(17.67 * ta / (ta + 243.5)) * (1 - rh)                                     # hPa
    precip = 6 * rh**2 * (1 + 0.8 * season) * np.exp(0.5 * z[3] - 0.125)                           # mm d-1
    swc = np.clip(0.08 + 0.025 * precip + 0.03 * z[4], 0.02, 0.55)                                  # m3 m-3
    lai = np.clip(6 / (1 + np.exp(-(ta - 3) / 3)) * swc / (swc + 0.12) + 0.3 * z[5], 0.05, 7)
    fapar = 0.95 * (1 - np.exp(-0.5 * lai))
    return dict(ta=ta, sw=sw, vpd=vpd, precip=precip, swc=swc, lai=lai, fapar=fapar)

def gpp_target(d:dict, z) -> np.ndarray:
    "A light-use-efficiency GPP (gC m-2 d-1) with temperature, VPD and soil-water limits, plus noise `z`."
    par = d["sw"] * 0.0864 * 0.48                                                # MJ m-2 d-1 of PAR
    f_t = np.exp(-(((d["ta"] - 22) / 11) ** 2))
    f_vpd = np.clip(1 - (d["vpd"] - 6) / 30, 0.1, 1)
    f_w = np.clip((d["swc"] - 0.03) / 0.2, 0, 1)
    return 1.8 * d["fapar"] * par * f_t * f_vpd * f_w + 0.3 * z

def training_table(seed:int, n:int=40_000) -> tuple[pd.DataFrame, np.ndarray]:
    "A synthetic site-month table: `n` random (lat, lon, month) points of the box, the 8 predictors, GPP."
    from carbonflux_nb.core import rng
    r = rng(seed, "upscale-bench", "training")
    lat = r.uniform(BOX["lat_min"], BOX["lat_max"], n)
    lon = r.uniform(BOX["lon_min"], BOX["lon_max"], n)
    moy = r.integers(1, 13, n)
    elev = elevation(lat, lon, r.standard_normal(n))
    d = dynamic_drivers(lat, lon, moy, elev, r.standard_normal((6, n)))
    X = pd.DataFrame({**d, "elev": elev})[FEATURES].astype(np.float32)
    return X, gpp_target(d, r.standard_normal(n))

def fit_model(seed:int):
    "LightGBM regressor, single-threaded and deterministic, fitted on `training_table`."
    import lightgbm as lgb
    from carbonflux_nb.core import rng
    X, y = training_table(seed)
    state = int(rng(seed, "upscale-bench", "lightgbm").integers(2**31 - 1))
    model = lgb.LGBMRegressor(n_estimators=200, num_leaves=31, learning_rate=0.05, random_state=state,
                              n_jobs=1, deterministic=True, force_row_wise=True, verbose=-1)
    return model.fit(X, y)


# ----------------------------------------------------------------------------------------------------------
# Grids and their Zarr stores

def grid_spec(k:int, cfg:dict) -> dict:
    "Axes and sizes of grid size `k` (k a perfect square: 1, 4, 9, 16, ...)."
    from carbonflux_nb.core import Region
    s = math.isqrt(k)
    if k < 1 or s * s != k: raise SystemExit(f"--sizes: {k} is not a perfect square (1, 4, 9, 16, ...)")
    res = cfg["base_res"] / s
    lat, lon = Region("bench", resolution=res, **BOX).axes()
    time_ = pd.date_range("2019-01-01", periods=cfg["months"], freq="MS")
    return dict(k=k, res=res, lat=lat, lon=lon, time=time_, shape=(len(time_), len(lat), len(lon)))

def plan(spec:dict, cfg:dict) -> dict:
    "The chunks `upscale` will use for this grid (and the store's lat bands in the 'bands' layout)."
    from carbonflux_nb.upscale import plan_chunks
    nt, ny, nx = spec["shape"]
    return plan_chunks({"time": nt, "lat": ny, "lon": nx}, cfg["chunk_cells"])

def n_chunks(spec:dict, cfg:dict) -> int:
    ch, (nt, ny, nx) = plan(spec, cfg), spec["shape"]
    return math.ceil(nt / ch["time"]) * math.ceil(ny / ch["lat"]) * math.ceil(nx / ch["lon"])

def store_chunks(spec:dict, cfg:dict, layout:str) -> tuple:
    "Zarr chunks (time, lat, lon) of the driver store: whole series in lat bands, or one map per month."
    nt, ny, nx = spec["shape"]
    return (nt, plan(spec, cfg)["lat"], nx) if layout == "bands" else (1, ny, nx)

def tag(spec:dict) -> str:
    nt, ny, nx = spec["shape"]
    return f"{ny}x{nx}x{nt}"

def store_path(spec:dict, cfg:dict, layout:str, seed:int) -> Path:
    ct, cy, cx = store_chunks(spec, cfg, layout)
    return WORK / f"drivers-{tag(spec)}-c{ct}x{cy}x{cx}-s{seed}-v{GEN_VERSION}.zarr"

def generate_block(spec:dict, seed:int, months, rows) -> dict:
    "Drivers for the given month and row indices: (months, rows, lon) arrays, and (rows, lon) for `elev`."
    from carbonflux_nb.core import rng
    lat, lon, nx = spec["lat"], spec["lon"], len(spec["lon"])
    moy = spec["time"].month.values
    out = {f: np.empty((len(months), len(rows), nx), np.float32) for f in DYNAMIC}
    out["elev"] = np.empty((len(rows), nx), np.float32)
    key = ("upscale-bench", tag(spec))
    for j, r in enumerate(rows):     # noise drawn per (row) and (month, row): the same data for any layout
        elev = elevation(lat[r], lon, rng(seed, *key, "elev", int(r)).standard_normal(nx))
        out["elev"][j] = elev
        for i, t in enumerate(months):
            z = rng(seed, *key, "month", int(t), int(r)).standard_normal((6, nx))
            for f, v in dynamic_drivers(lat[r], lon, moy[t], elev, z).items(): out[f][i, j] = v
    return out

def write_drivers(spec:dict, cfg:dict, layout:str, seed:int) -> Path:
    "Generate the drivers of one grid size chunk by chunk into a Zarr store (kept for later runs)."
    import dask.array as dsa, xarray as xr
    from carbonflux_nb.io import atomic_output, ZARR_FORMAT
    path = store_path(spec, cfg, layout, seed)
    if path.exists(): return path
    nt, ny, nx = spec["shape"]
    ct, cy, cx = store_chunks(spec, cfg, layout)
    coords = {"time": spec["time"], "lat": ("lat", spec["lat"], {"units": "degrees_north"}),
              "lon": ("lon", spec["lon"], {"units": "degrees_east"})}
    lazy = {f: (("time", "lat", "lon"), dsa.zeros(spec["shape"], chunks=(ct, cy, cx), dtype=np.float32)) for f in DYNAMIC}
    lazy["elev"] = (("lat", "lon"), dsa.zeros((ny, nx), chunks=(cy, cx), dtype=np.float32))
    template = xr.Dataset(lazy, coords=coords)
    for f in FEATURES: template[f].attrs["units"] = UNITS[f]
    dims = {f: template[f].dims for f in FEATURES}

    def region(block:dict, feats, months:slice, rows:slice):
        ds = xr.Dataset({f: (dims[f], block[f]) for f in feats})
        ds.to_zarr(tmp, region={"time": months, "lat": rows, "lon": slice(None)} if "ta" in feats
                   else {"lat": rows, "lon": slice(None)}, zarr_format=ZARR_FORMAT)

    # Region by region (io.write_zarr writes a whole dataset in one go), inside io.atomic_output like it.
    with atomic_output(path) as tmp:
        template.to_zarr(tmp, compute=False, mode="w-", zarr_format=ZARR_FORMAT, consolidated=True)
        if layout == "bands":                                    # one lat band (all months) at a time
            for r0 in range(0, ny, cy):
                rows = range(r0, min(r0 + cy, ny))
                region(generate_block(spec, seed, range(nt), rows), FEATURES, slice(None), slice(r0, rows.stop))
        else:                                                    # one month (all rows) at a time
            for t in range(nt):
                block = generate_block(spec, seed, [t], range(ny))
                region(block, DYNAMIC, slice(t, t + 1), slice(None))
                if t == 0: region(block, ["elev"], slice(None), slice(None))
    return path

def open_kw(inline_array:bool) -> dict:
    "Keywords for `io.read_zarr`: dask arrays on the store's chunks (`chunks=None`, its default, loads everything)."
    return dict(chunks={}, inline_array=True) if inline_array else dict(chunks={})

def open_drivers(path:Path, inline_array:bool=False):
    "The drivers, lazily (see `open_kw`)."
    from carbonflux_nb.io import read_zarr
    return read_zarr(path, variables=FEATURES, **open_kw(inline_array))


# ----------------------------------------------------------------------------------------------------------
# The three paths. Each takes the fitted model and the lazily opened drivers and returns the predictions as
# an xarray DataArray (time, lat, lon), float32 like `upscale`; with `sink` 'zarr' they are written to `out`
# chunk by chunk instead (part of the timed work) and the lazy result is returned.

def predict_eager(model, ds, chunk_cells:int, sink:str, out:Path):
    "Load every driver, stack one (cells x months, features) table, one predict on both cores."
    import xarray as xr
    from carbonflux_nb.io import write_zarr
    nt, ny, nx = ds["ta"].shape
    X = np.empty((nt * ny * nx, len(FEATURES)), np.float32)      # filled column by column: one copy in memory
    for j, f in enumerate(FEATURES):
        a = ds[f].values                                         # reads the whole variable from the store
        X[:, j] = np.broadcast_to(a, (nt, ny, nx)).reshape(-1)   # static `elev` repeated over the months
        del a
    model.set_params(n_jobs=2)                                   # LightGBM's own threads: both cores
    pred = model.predict(pd.DataFrame(X, columns=FEATURES, copy=False)).astype(np.float32)
    del X
    res = xr.DataArray(pred.reshape(nt, ny, nx), coords={d: ds[d] for d in ("time", "lat", "lon")},
                       dims=("time", "lat", "lon"), name="gpp", attrs={"units": "gC m-2 d-1"})
    if sink == "zarr": write_zarr(res, out)
    return res

def predict_dask(scheduler:str):
    "`upscale` with the given scheduler: computed into memory (sink 'memory') or written chunk by chunk."
    def run(model, ds, chunk_cells:int, sink:str, out:Path):
        from carbonflux_nb.io import write_zarr
        from carbonflux_nb.upscale import upscale
        if sink == "memory": return upscale(model, ds, FEATURES, max_chunk_cells=chunk_cells, scheduler=scheduler)
        lazy = upscale(model, ds, FEATURES, max_chunk_cells=chunk_cells, compute=False)
        write_zarr(lazy, out)     # computes on the active client (dask_client()), else on a private pool of threads
        return lazy
    return run

RUNNERS = {"eager": predict_eager, "threads": predict_dask("threads"), "distributed": predict_dask("distributed")}


# ----------------------------------------------------------------------------------------------------------
# Peak memory of the process tree

class PeakRSS:
    "Peak resident memory (bytes) of this process and all its descendants, sampled in a thread every `interval` s."
    def __init__(self, interval:float=0.01, refresh:float=0.5):
        self.interval, self.refresh = interval, refresh
        self.me = psutil.Process()
        self._stop = threading.Event()

    def _tree(self): return [self.me, *self.me.children(recursive=True)]

    def _rss(self, procs) -> tuple[int, int]:
        "RSS of this process, and the sum over its descendants."
        own = others = 0
        for p in procs:
            try: rss = p.memory_info().rss
            except psutil.Error: continue                        # a process that just ended
            if p.pid == self.me.pid: own = rss
            else: others += rss
        return own, others

    def _sample(self, procs):
        own, others = self._rss(procs)
        self.peak = max(self.peak, own + others)
        self.peak_own, self.peak_others = max(self.peak_own, own), max(self.peak_others, others)

    def _loop(self):
        procs, listed = self._tree(), time.monotonic()
        while not self._stop.wait(self.interval):
            if time.monotonic() - listed > self.refresh:         # listing /proc is costly: do it now and then
                procs, listed = self._tree(), time.monotonic()
            self._sample(procs)

    def __enter__(self):
        procs = self._tree()
        self.n_procs = len(procs)
        self.base_own, self.base_others = self._rss(procs)
        self.baseline = self.peak = self.base_own + self.base_others
        self.peak_own, self.peak_others = self.base_own, self.base_others
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set(); self._thread.join()
        self._sample(self._tree())

    @property
    def increase_mib(self) -> float:
        "Peak increase of the whole tree (the number reported)."
        return (self.peak - self.baseline) / 2**20

    @property
    def split_mib(self) -> tuple[float, float]:
        "Peak increases of this process and of its descendants (dask workers), each at its own peak."
        return (self.peak_own - self.base_own) / 2**20, (self.peak_others - self.base_others) / 2**20


# ----------------------------------------------------------------------------------------------------------
# One measurement (in its own process)

def pred_path(spec:dict, path:str, cfg:dict, args) -> Path:
    return WORK / "pred" / f"{tag(spec)}-{args.layout}-{args.sink}-{'inline-' if args.inline_array else ''}{path}.zarr"

def warmup_store(seed:int) -> Path:
    "A tiny driver store (the same generator): every path runs on it once before the measurement."
    cfg = dict(base_res=6.0, months=2, chunk_cells=100)
    return write_drivers(grid_spec(1, cfg), cfg, "bands", seed)

def measure_one(path:str, k:int, cfg:dict, args) -> dict:
    "Time and peak memory of one path on one grid size, after imports, cluster start-up and a warm-up run."
    import xarray as xr  # noqa: F401  (imported before the measurement, like everything else)
    from carbonflux_nb.cluster import close_client, dask_client
    from carbonflux_nb.io import read_zarr  # noqa: F401
    spec = grid_spec(k, cfg)
    model = pickle.loads((WORK / "model.pkl").read_bytes())
    store, out = store_path(spec, cfg, args.layout, args.seed), pred_path(spec, path, cfg, args)
    out.parent.mkdir(parents=True, exist_ok=True)
    run = RUNNERS[path]
    client = dask_client() if path == "distributed" else None
    # warm-up: imports on the workers, model shipped once, codecs and LightGBM initialised
    run(model, open_drivers(warmup_store(args.seed), args.inline_array), 50, args.sink, WORK / "pred" / f"warmup-{path}.zarr")
    gc.collect()
    if client is not None: client.run(gc.collect); time.sleep(0.5)
    with PeakRSS() as mem:
        ds = open_drivers(store, args.inline_array)              # lazy; read_zarr's checks stream over the store
        t0 = time.perf_counter()
        res = run(model, ds, cfg["chunk_cells"], args.sink, out)
        wall = time.perf_counter() - t0
    if args.sink == "memory":                                    # kept for the comparison, after the clock
        from carbonflux_nb.io import write_zarr
        write_zarr(res, out)
    close_client()
    nt, ny, nx = spec["shape"]
    return dict(path=path, k=k, shape=spec["shape"], cell_months=nt * ny * nx, wall_s=wall,
                peak_mib=mem.increase_mib, peak_main_mib=mem.split_mib[0], peak_workers_mib=mem.split_mib[1],
                baseline_mib=mem.baseline / 2**20, n_procs=mem.n_procs,
                n_chunks=n_chunks(spec, cfg))


# ----------------------------------------------------------------------------------------------------------
# The driver process

def machine() -> str:
    info = Path("/proc/cpuinfo")
    names = [l.split(":", 1)[1].strip() for l in (info.read_text().splitlines() if info.exists() else [])
             if l.startswith("model name")]
    cpu = names[0] if names else platform.processor()
    return (f"{len(os.sched_getaffinity(0))} cores ({cpu}), "
            f"{psutil.virtual_memory().total / 2**30:.1f} GiB memory, {platform.system()} {platform.release()}")

def versions() -> str:
    import dask, distributed, lightgbm, xarray, zarr
    return ", ".join(f"{m.__name__} {m.__version__}" for m in (np, pd, xarray, dask, distributed, zarr, lightgbm)) + \
           f", Python {platform.python_version()}"

def run_one_subprocess(path:str, k:int, args) -> dict:
    "Run `--one path k` in a fresh interpreter and parse its RESULT line; on failure, {'error': last error line}."
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", path, str(k), "--layout", args.layout,
           "--sink", args.sink, "--seed", str(args.seed), "--chunk-cells", str(args.chunk_cells)]
    if args.quick: cmd.append("--quick")
    if args.inline_array: cmd.append("--inline-array")
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    lines = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
    if p.returncode == 0 and lines: return json.loads(lines[-1][len("RESULT "):])
    sys.stderr.write(p.stdout[-2000:] + p.stderr[-6000:])
    last = next((l for l in reversed(p.stderr.splitlines()) if l.strip() and not l.startswith(" ")), "no output")
    print(f"measurement {path} {k}x failed (exit {p.returncode}): {' '.join(cmd)}", file=sys.stderr)
    return dict(path=path, k=k, error=re.sub(r"-[0-9a-f-]{20,}", "", last)[:160])   # task-key hashes dropped

def check_agreement(spec:dict, cfg:dict, args) -> float:
    "Largest |difference| between the paths' predictions on one grid; raises if they are not allclose."
    import xarray as xr
    preds = {p: xr.open_zarr(pred_path(spec, p, cfg, args))["gpp"].values for p in PATHS}
    ref, worst = preds["eager"], 0.0
    for p, v in preds.items():
        if v.shape != ref.shape or not np.allclose(v, ref, rtol=1e-5, atol=1e-6, equal_nan=True):
            raise SystemExit(f"{PATHS[p]} disagrees with {PATHS['eager']} on {tag(spec)}: "
                             f"max |diff| {np.nanmax(np.abs(v - ref)):.3g}")
        worst = max(worst, float(np.nanmax(np.abs(v - ref))))
    return worst

def ratio(a:float, b:float) -> str:
    "a / b to one decimal, or 'n/a' where b is too small (a peak below 1 MiB) for a meaningful ratio."
    return f"{a / b:.1f}" if b >= 1 else "n/a"

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,4,16", help="grid sizes in multiples of the 1x cells, perfect squares (default 1,4,16)")
    ap.add_argument("--quick", action="store_true", help="smaller grids (1x: 30 x 60 cells x 12 months) for a smoke run")
    ap.add_argument("--repeat", type=int, default=1, help="measure each (size, path) N times in fresh processes; "
                    "report the fastest wall time and the largest peak memory")
    ap.add_argument("--chunk-cells", type=int, default=None, help="upscale's max_chunk_cells "
                    f"(default {FULL['chunk_cells']:,}; {QUICK['chunk_cells']:,} with --quick)")
    ap.add_argument("--layout", choices=["bands", "months"], default="bands",
                    help="Zarr chunks of the driver stores: whole time series in lat bands of upscale's chunk "
                         "height (default), or one map per month")
    ap.add_argument("--sink", choices=["zarr", "memory"], default="zarr",
                    help="predictions written with io.write_zarr inside the timed call (default), or computed "
                         "into memory (upscale's compute=True)")
    ap.add_argument("--inline-array", action="store_true",
                    help="open the stores with read_zarr(..., inline_array=True): no shared per-variable key in the "
                         "dask graph (see README: with it, writing upscale's lazy result keeps memory bounded)")
    ap.add_argument("--paths", default=",".join(PATHS), help=f"which paths to run (default {','.join(PATHS)})")
    ap.add_argument("--seed", type=int, default=None, help="seed of drivers and model (default: settings seed)")
    ap.add_argument("--one", nargs=2, metavar=("PATH", "SIZE"), help=argparse.SUPPRESS)   # internal: one measurement
    args = ap.parse_args()
    cfg = dict(QUICK if args.quick else FULL)
    if args.chunk_cells is None: args.chunk_cells = cfg["chunk_cells"]
    cfg["chunk_cells"] = args.chunk_cells
    if args.seed is None:
        from carbonflux_nb.config import get_settings
        args.seed = get_settings().seed

    if args.one:
        print("RESULT " + json.dumps(measure_one(args.one[0], int(args.one[1]), cfg, args)), flush=True)
        return

    t_start = time.perf_counter()
    sizes = [int(s) for s in args.sizes.split(",")]
    paths = [p.strip() for p in args.paths.split(",")]
    unknown = set(paths) - set(PATHS)
    if unknown: raise SystemExit(f"--paths: unknown {sorted(unknown)}; known: {', '.join(PATHS)}")
    specs = {k: grid_spec(k, cfg) for k in sizes}
    WORK.mkdir(parents=True, exist_ok=True)

    print(f"fitting the model, writing the driver stores to {WORK.relative_to(ROOT)}/ ...", file=sys.stderr)
    (WORK / "model.pkl").write_bytes(pickle.dumps(fit_model(args.seed)))
    warmup_store(args.seed)
    for k, spec in specs.items():
        t = time.perf_counter()
        write_drivers(spec, cfg, args.layout, args.seed)
        print(f"  {k}x {tag(spec)}: {time.perf_counter() - t:.1f} s", file=sys.stderr)

    results = {}
    for k in sizes:
        for p in paths:
            runs = [run_one_subprocess(p, k, args) for _ in range(max(1, args.repeat))]
            failed = [r for r in runs if "error" in r]
            if failed: results[k, p] = failed[0]; continue
            best = min(runs, key=lambda r: r["wall_s"])
            results[k, p] = {**best, "peak_mib": max(r["peak_mib"] for r in runs)}
            print(f"  {k}x {PATHS[p]}: {best['wall_s']:.2f} s, peak {results[k, p]['peak_mib']:.0f} MiB", file=sys.stderr)
    complete = [k for k in sizes if set(paths) == set(PATHS) and all("error" not in results[k, p] for p in paths)]
    agree = {k: check_agreement(specs[k], cfg, args) for k in complete}
    report(results, specs, sizes, paths, cfg, args, agree)
    print(f"\ntotal run time {time.perf_counter() - t_start:.0f} s")
    if any("error" in r for r in results.values()): raise SystemExit(1)

def report(results:dict, specs:dict, sizes:list, paths:list, cfg:dict, args, agree:dict):
    "Print the markdown report: settings, the table, ratios between sizes and paths, the agreement check."
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    kw = ", ".join(f"{k}={v}" for k, v in open_kw(args.inline_array).items())
    best, most = ("; best of " + str(args.repeat), "; largest of " + str(args.repeat)) if args.repeat > 1 else ("", "")
    print(f"### Gridded upscaling benchmark ({date})\n")
    print(f"- machine: {machine()}")
    print(f"- {versions()}")
    print("- model: LightGBM, 200 trees x 31 leaves, 8 predictors (n_jobs=1 in the dask paths, 2 in the eager path)")
    print(f"- drivers: float32 Zarr stores, chunks {args.layout!r}; opened with io.read_zarr(path, {kw}); predictions "
          f"{'written with io.write_zarr' if args.sink == 'zarr' else 'computed into memory'} inside the timed call")
    print(f"- dask: upscale(max_chunk_cells={cfg['chunk_cells']:,}); distributed = LocalCluster, 2 workers x 1 thread")
    print(f"- wall s: the prediction call only{best}. peak MiB: peak RSS increase of the process tree (incl. dask "
          f"workers) over opening the store and the call{most}\n")
    print("| size (cells x months) | path | wall s | cell-months/s | peak MiB |")
    print("|---|---|--:|--:|--:|")
    ok = lambda k, p: "error" not in results[k, p]
    for k in sizes:
        nt, ny, nx = specs[k]["shape"]
        for p in paths:
            r, size = results[k, p], f"{ny}x{nx} x {nt} ({k}x, {n_chunks(specs[k], cfg)} chunks)"
            if not ok(k, p): print(f"| {size} | {PATHS[p]} | failed: {r['error']} | | |"); continue
            print(f"| {size} | {PATHS[p]} | {r['wall_s']:.2f} | {r['cell_months'] / r['wall_s']:,.0f} | {r['peak_mib']:.0f} |")
    lo, hi = sizes[0], sizes[-1]
    both = [p for p in paths if ok(lo, p) and ok(hi, p)]
    if hi != lo and both:
        print(f"\npeak memory {hi}x/{lo}x: " + ", ".join(
            f"{PATHS[p]} {ratio(results[hi, p]['peak_mib'], results[lo, p]['peak_mib'])}" for p in both))
        print(f"wall time {hi}x/{lo}x: " + ", ".join(
            f"{PATHS[p]} {results[hi, p]['wall_s'] / results[lo, p]['wall_s']:.1f}" for p in both))
    if "eager" in paths and ok(hi, "eager"):
        e = results[hi, "eager"]
        print(f"at {hi}x, eager / dask: " + ", ".join(
            f"peak memory {ratio(e['peak_mib'], results[hi, p]['peak_mib'])}x and "
            f"wall time {e['wall_s'] / results[hi, p]['wall_s']:.2f}x vs {PATHS[p]}"
            for p in paths if p != "eager" and ok(hi, p)))
    if agree:
        print("predictions agree (allclose) on " + ", ".join(f"{k}x" for k in agree) + "; max |diff| vs eager: "
              + ", ".join(f"{k}x {d:.2g}" for k, d in agree.items()))

if __name__ == "__main__":
    main()
