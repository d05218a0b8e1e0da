#!/usr/bin/env python
"""Benchmark of FluxFormer training and prediction: the twelve monthly Transformer models ("Jan to month M")
trained for a fixed number of epochs on a fixed twin-world tower table, on the CPU and, where one is
available, on a GPU, side by side in one run.

The table: the global twin world at 4 degrees (2014-2019, the settings.ini seed), `GLOBAL_TOWERS` towers,
every tower-month with a GPP value as one sample of 8-day drivers from 1 January to its month, with ESA-CCI-like
context. Training: `MonthlyModels("fluxformer", epochs=E, patience=E, val_frac=0)`, so every model runs
exactly E epochs (no early stopping, no validation pass); prediction: one year of the global grid (12 months
x every land cell) through the twelve fitted models.

Reported per device and batch size: wall time of the twelve fits, training throughput in samples x epochs
per second, wall time and throughput of the grid prediction, and the ratio to the first row (CPU, batch 64).
The process uses all cores for torch's CPU kernels (`--threads` to change).

    .venv/bin/python benchmarks/fluxformer_bench.py             # 10 epochs, batch sizes 64 and 256
    .venv/bin/python benchmarks/fluxformer_bench.py --quick     # 2 epochs, batch 64: a smoke run
"""
from __future__ import annotations
import argparse, os, platform, sys, time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from carbonflux_nb.twin.land import world_spec, build_world, monthly, sample_towers     # noqa: E402
from carbonflux_nb.gpp.fluxformer_data import GLOBAL_TOWERS, climate_region, twin_tower_data, grid_data   # noqa: E402
from carbonflux_nb.gpp.fluxformer import MonthlyModels                                      # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10, help="epochs per monthly model (default 10)")
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 256], help="batch sizes (default 64 256)")
    ap.add_argument("--d-model", type=int, default=64, help="FluxFormer width (default 64, the MVTS default)")
    ap.add_argument("--layers", type=int, default=3, help="encoder layers (default 3)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads (default: all cores)")
    ap.add_argument("--quick", action="store_true", help="2 epochs, batch 64")
    a = ap.parse_args()
    if a.quick: a.epochs, a.batch = 2, [64]
    torch.set_num_threads(a.threads)

    t0 = time.perf_counter()
    spec = world_spec("global", "small", years=(2014, 2019))
    world = build_world(spec)
    regions = climate_region(world)
    data = twin_tower_data(spec, world, sample_towers(spec, monthly(world), GLOBAL_TOWERS), "jan_to_m", regions)
    grid = grid_data(world, 2018, "jan_to_m", regions=regions)
    print(f"table: {len(data)} tower-months at {data.meta.site.nunique()} sites, 12 monthly models; "
          f"grid: {len(grid)} cell-months (2018); built in {time.perf_counter() - t0:.1f} s")

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for dev in devices:
        for b in a.batch:
            mm = MonthlyModels("fluxformer", progress=False, epochs=a.epochs, patience=a.epochs, val_frac=0.0, batch_size=b,
                               seed=0, device=dev, d_model=a.d_model, n_layers=a.layers)
            if dev == "cuda": torch.cuda.synchronize()
            t = time.perf_counter(); mm.fit(data, "cci")
            if dev == "cuda": torch.cuda.synchronize()
            fit_s = time.perf_counter() - t
            t = time.perf_counter(); pred = mm.predict(grid, "cci")
            if dev == "cuda": torch.cuda.synchronize()
            pred_s = time.perf_counter() - t
            assert np.isfinite(pred).all()
            rows.append({"device": dev, "batch": b, "fit_s": fit_s, "train samples/s": len(data) * a.epochs / fit_s,
                         "predict_s": pred_s, "predict samples/s": len(grid) / pred_s})
    df = pd.DataFrame(rows)
    df["fit speed-up"] = df.fit_s.iloc[0] / df.fit_s
    df["predict speed-up"] = df.predict_s.iloc[0] / df.predict_s
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"\nFluxFormer d_model={a.d_model}, {a.layers} layers, {a.epochs} epochs per monthly model; torch {torch.__version__}, "
          f"{a.threads} CPU threads ({platform.processor() or platform.machine()}), GPU: {gpu}")
    print(df.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))


if __name__ == "__main__":
    main()
