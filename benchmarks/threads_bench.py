#!/usr/bin/env python
"""Benchmark of torch's CPU threads for the sequence networks of chapters 31-34: time per training step of FluxFormer
(d_model 64, 3 layers: the paper-size grid's network) and the LSTM (64 hidden units), batch 64, for a few ways of
using the cores of the machine, measured side by side in one run:

- one process with 1 thread, the machine otherwise idle;
- one process with all cores' threads, idle;
- one process with all cores' threads while another process keeps one core busy (what a run of a parallel sweep, or
  any other job, does to its neighbour);
- one process per core, 1 thread each, all at once (a dask sweep with OMP_NUM_THREADS=1, as `carbonflux sweep` runs).

Reported per setting and model: milliseconds per step (the mean over the processes), steps per second summed over the
processes, and the throughput relative to one process with 1 thread. The run notebooks take their threads from
`core.cpu_threads` (OMP_NUM_THREADS where set), so a sweep on dask runs one thread per run.

    .venv/bin/python benchmarks/threads_bench.py            # about 1 min on 2 cores
"""
from __future__ import annotations
import argparse, multiprocessing as mp, os, platform, sys, time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _steps(model:str, seq:int, threads:int, steps:int, out) -> None:
    "Train `model` for `steps` steps of batch 64 on random data with `threads` torch threads; put ms per step in `out`."
    import torch, torch.nn.functional as F
    from carbonflux_nb.gpp.fluxformer import FluxFormer, LSTMNet
    torch.set_num_threads(threads); torch.manual_seed(0)
    net = FluxFormer(7, seq, 0, d_model=64, n_layers=3, n_heads=4) if model == "fluxformer" else LSTMNet(7, seq, 0, hidden=64)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    x, m, y = torch.randn(64, seq, 7), torch.ones(64, seq, dtype=torch.bool), torch.randn(64)
    def step():
        loss = F.mse_loss(net(x, m), y); opt.zero_grad(); loss.backward(); opt.step()
    for _ in range(5): step()                                  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps): step()
    out.put((time.perf_counter() - t0) / steps * 1e3)


def _spin(stop) -> None:
    "Keep one core busy until `stop` is set."
    while not stop.is_set(): sum(range(10_000))


def measure(model:str, seq:int, procs:int, threads:int, busy:bool, steps:int) -> list:
    ctx = mp.get_context("spawn")
    out, stop = ctx.Queue(), ctx.Event()
    hog = ctx.Process(target=_spin, args=(stop,)) if busy else None
    if hog: hog.start(); time.sleep(0.5)
    ps = [ctx.Process(target=_steps, args=(model, seq, threads, steps, out)) for _ in range(procs)]
    for p in ps: p.start()
    ms = [out.get() for _ in ps]
    for p in ps: p.join()
    if hog: stop.set(); hog.join()
    return ms


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60, help="timed training steps per process (default 60)")
    ap.add_argument("--seq", type=int, default=12, help="sequence length (default 12, the 12M setting)")
    a = ap.parse_args()
    cores = os.cpu_count() or 1
    settings = [("1 process, 1 thread, idle", 1, 1, False), (f"1 process, {cores} threads, idle", 1, cores, False),
                (f"1 process, {cores} threads, another process busy", 1, cores, True),
                (f"{cores} processes, 1 thread each", cores, 1, False)]
    rows = []
    for model in ("fluxformer", "lstm"):
        for name, procs, threads, busy in settings:
            steps = a.steps if not (busy and threads > 1) else max(3, a.steps // 20)   # it can be very slow
            ms = measure(model, a.seq, procs, threads, busy, steps)
            rows.append({"model": model, "setting": name, "ms/step": sum(ms) / len(ms), "steps/s": sum(1e3 / v for v in ms)})
    df = pd.DataFrame(rows)
    base = df[df.setting.str.startswith("1 process, 1 thread")].set_index("model")["steps/s"]
    df["throughput vs 1 thread"] = df["steps/s"] / df.model.map(base)
    import torch
    print(f"batch 64, {a.seq} steps per sequence; torch {torch.__version__}, {cores} CPU cores ({platform.machine()})\n")
    print(df.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))


if __name__ == "__main__":
    main()
