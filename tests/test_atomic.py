"""Atomic writes: an error or a killed process while writing leaves no partial file and no changed target."""
import subprocess, sys, textwrap, time
import numpy as np
import pytest
import xarray as xr
import dask.array as dsa
from carbonflux_nb.io import write_netcdf, write_zarr
from carbonflux_nb.workflows import write_table, write_json
import pandas as pd


def field(n=50):
    return xr.Dataset({"gpp": (("time", "lat"), np.ones((n, 10), np.float32), {"units": "gC m-2 d-1"})},
                      coords={"time": pd.date_range("2000-01-01", periods=n, freq="D"), "lat": np.arange(10.0)})


def failing_field():
    "A lazy field whose second chunk raises while it is being written."
    def boom(x, block_info=None):
        if block_info[None]["chunk-location"][0] == 1: raise RuntimeError("disk on fire")
        return x
    ds = field(40)
    data = dsa.map_blocks(boom, dsa.ones((40, 10), chunks=(20, 10), dtype=np.float32), dtype=np.float32)
    return ds.assign(gpp=(("time", "lat"), data, {"units": "gC m-2 d-1"}))


@pytest.mark.parametrize("writer,name", [(write_netcdf, "p.nc"), (write_zarr, "p.zarr")])
def test_error_midway_leaves_no_partial_and_keeps_old(tmp_path, writer, name):
    target = tmp_path / name
    writer(field(), target)
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    with pytest.raises(RuntimeError, match="disk on fire"):
        writer(failing_field(), target)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before
    assert float(xr.open_dataset(target, engine="zarr" if name.endswith("zarr") else "h5netcdf").gpp.sum()) == 500.0


def test_killed_writer_leaves_no_target(tmp_path):
    "SIGKILL in the middle of a large NetCDF write: the target never appears half-written."
    target = tmp_path / "big.nc"
    code = textwrap.dedent(f"""
        import numpy as np, xarray as xr, dask.array as dsa, time
        from carbonflux_nb.io import write_netcdf
        def slow(x):
            time.sleep(0.05); return x
        data = dsa.map_blocks(slow, dsa.random.random((400, 500, 500), chunks=(4, 500, 500)).astype(np.float32))
        ds = xr.Dataset({{"gpp": (("time", "lat", "lon"), data, {{"units": "gC m-2 d-1"}})}})
        print("writing", flush=True)
        write_netcdf(ds, {str(target)!r})
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "writing"
    t0 = time.time()
    while not any(tmp_path.iterdir()) and time.time() - t0 < 60: time.sleep(0.05)   # the temporary file appears
    time.sleep(0.5)
    p.kill(); p.wait()
    assert not target.exists()
    assert all(q.name.startswith(".") and q.name.endswith(".tmp") for q in tmp_path.iterdir())


def test_tables_and_records_are_atomic(tmp_path):
    csv, parquet = write_table(pd.DataFrame({"a": [1, 2]}), tmp_path / "t")
    assert pd.read_parquet(parquet).a.tolist() == [1, 2] and pd.read_csv(csv).a.tolist() == [1, 2]
    write_json({"ok": True}, tmp_path / "r.json")
    with pytest.raises((TypeError, ValueError)):
        write_table(pd.DataFrame({"a": [object()]}), tmp_path / "t")      # parquet cannot store an object
    assert pd.read_parquet(parquet).a.tolist() == [1, 2]                   # the old tables are intact,
    assert pd.read_csv(csv).a.tolist() == [1, 2]                           # both of them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "t.csv", "t.parquet"]


@pytest.mark.parametrize("writer,name", [(write_netcdf, "p.nc"), (write_zarr, "p.zarr")])
def test_writes_with_a_dask_cluster_active(tmp_path, writer, name):
    "The same with a LocalCluster client active (as inside a run notebook): a failure leaves nothing, a good write reads back."
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0") as cluster, Client(cluster):
        with pytest.raises(RuntimeError, match="disk on fire"):
            writer(failing_field(), tmp_path / name)
        time.sleep(1.0)                                    # give any straggler the chance to misbehave
        assert list(tmp_path.iterdir()) == []
        writer(field(), tmp_path / name)
        writer(field().chunk({"time": 10}), tmp_path / ("lazy-" + name))
    for f in (name, "lazy-" + name):
        with xr.open_dataset(tmp_path / f, engine="zarr" if name.endswith("zarr") else "h5netcdf") as ds:
            assert float(ds.gpp.sum()) == 500.0
