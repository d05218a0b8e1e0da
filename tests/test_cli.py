"""The command line end to end: runs, a sweep that fails, is interrupted and resumed, and the demo's index."""
import json, os, signal, subprocess, time
import pandas as pd
import pytest
import yaml
from conftest import ROOT, carbonflux_cmd, default_sigint


def run_cli(*args, cwd=ROOT, timeout=600, env=None):
    return subprocess.run(carbonflux_cmd() + list(map(str, args)), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def records(sweep_dir):
    return {p.name: json.loads((p / "run.json").read_text()) for p in sweep_dir.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / "run.json").exists()}


def test_run_writes_a_complete_run_folder(toy_notebook, tmp_path):
    r = run_cli("run", toy_notebook, "-p", "x", "7", "--out", tmp_path / "out", "--run-id", "seven")
    assert r.returncode == 0, r.stderr
    d = tmp_path / "out" / "seven"
    assert sorted(p.name for p in d.iterdir()) == ["product.txt", "results.json", "run.json", "toy.html", "toy.ipynb"]
    assert json.loads((d / "results.json").read_text()) == {"y": 49}
    rec = json.loads((d / "run.json").read_text())
    assert rec["status"] == "ok" and rec["parameters"] == {"x": 7}
    assert (d / "product.txt").read_text() == "49"          # the notebook's own files land in its run folder
    assert "y = 49" in r.stdout


def test_run_reports_bad_input_and_failures(toy_notebook, tmp_path):
    r = run_cli("run", toy_notebook, "-p", "z", "1", "--out", tmp_path)
    assert r.returncode == 2 and "unknown parameters ['z']" in r.stderr
    r = run_cli("run", toy_notebook, "-p", "fail", "true", "--out", tmp_path, "--run-id", "bad")
    assert r.returncode == 1 and "failing on request" in r.stderr
    assert json.loads((tmp_path / "bad" / "run.json").read_text())["status"] == "failed"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_sweep_failure_interrupt_resume(toy_notebook, tmp_path):
    """One run fails, the sweep is interrupted (Ctrl-C) part-way, and started again: nothing finished is lost
    or redone, the failed run is retried, and the table holds every run."""
    log = tmp_path / "starts.log"
    n = 8
    grid = {"name": "s", "fixed": {"sleep_s": 1.5, "log": str(log)},
            "runs": [{"x": i, "fail": i == 3} for i in range(1, n + 1)]}
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(grid))
    out = tmp_path / "out"
    cmd = carbonflux_cmd() + ["--workers", "2", "sweep", str(toy_notebook), "--grid", str(tmp_path / "grid.yaml"),
                              "--out", str(out)]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    t0 = time.time()
    while time.time() - t0 < 300:
        done = [r for r in records(out / "s").values() if r["status"] == "ok"] if (out / "s").exists() else []
        if len(done) >= 2 or p.poll() is not None: break
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    try: _, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill(); pytest.fail("the sweep did not stop within 120 s of Ctrl-C")
    assert p.returncode == 130, (p.returncode, err[-3000:])
    before = records(out / "s")
    finished = {k: v for k, v in before.items() if v["status"] == "ok"}
    assert 2 <= len(finished) < n, "the interruption must come part-way through the sweep"
    snap = {k: (out / "s" / k / "run.json").read_bytes() for k in finished}

    r = run_cli("--workers", "2", "sweep", toy_notebook, "--grid", tmp_path / "grid.yaml", "--out", out)
    assert r.returncode == 1, r.stderr                       # one run fails on purpose
    after = records(out / "s")
    bad = {v["parameters"]["x"]: v.get("error") for v in after.values() if v["status"] != "ok"}
    assert len(after) == n and sorted(bad) == [3], (bad, r.stderr[-3000:])
    for k in finished:                                       # finished runs untouched...
        assert (out / "s" / k / "run.json").read_bytes() == snap[k]
    starts = [int(x) for x in log.read_text().split()]
    for rec in finished.values():                            # ...and never started again
        assert starts.count(rec["parameters"]["x"]) == 1
    failed_before = any(v["parameters"]["x"] == 3 for v in before.values())
    assert starts.count(3) >= (2 if failed_before else 1)    # a recorded failure is run again
    table = pd.read_parquet(out / "s" / "results.parquet")
    assert len(table) == n and table.set_index("param.x").loc[5, "y"] == 25
    assert table.set_index("param.x").loc[3, "status"] == "failed"
    assert pd.read_csv(out / "s" / "results.csv").shape == table.shape
    assert not [q for q in (out / "s").iterdir() if q.name.startswith(".")]   # no temporary folders remain

    r = run_cli("--workers", "2", "sweep", toy_notebook, "--grid", tmp_path / "grid.yaml", "--out", out,
                "--no-retry-failed")                          # a third start has nothing left to do
    assert r.returncode == 1 and [int(x) for x in log.read_text().split()] == starts


def test_sweep_on_a_running_dask_cluster(toy_notebook, tmp_path):
    "--scheduler sends the runs to a cluster that is already running (here one on loopback) and leaves it running."
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        (tmp_path / "grid.yaml").write_text(yaml.safe_dump({"name": "remote", "parameters": {"x": [2, 3]}}))
        r = run_cli("--scheduler", cluster.scheduler_address, "sweep", toy_notebook, "--grid", tmp_path / "grid.yaml",
                    "--out", tmp_path)
        assert r.returncode == 0, r.stderr
        prefixes = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
        assert "run-toy" in prefixes, prefixes                   # the runs were this cluster's tasks
        assert client.status == "running" and len(client.scheduler_info()["workers"]) == 2
    assert pd.read_csv(tmp_path / "remote" / "results.csv").y.tolist() == [4, 9]


def test_sweep_whose_runs_use_the_same_cluster(tmp_path):
    """The gridded example upscales on the cluster that runs it: with one worker thread this deadlocks unless the
    run task frees its thread, and the kernel must be told the scheduler address the sweep was given."""
    from distributed import Client, LocalCluster
    nb = ROOT / "nbs" / "runs" / "gridded_example.ipynb"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        (tmp_path / "grid.yaml").write_text(yaml.safe_dump({"name": "g", "fixed": {"resolution": 2.0},
                                                            "parameters": {"seed": [1, 2]}}))
        r = run_cli("--scheduler", cluster.scheduler_address, "sweep", nb, "--grid", tmp_path / "grid.yaml",
                    "--out", tmp_path, timeout=400)
        assert r.returncode == 0, r.stderr[-3000:]
        prefixes = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert any(p.startswith("run") for p in prefixes) and "predict_block" in prefixes, prefixes  # runs and their upscaling
    table = pd.read_csv(tmp_path / "g" / "results.csv")
    assert table.status.tolist() == ["ok", "ok"] and (table.r2 > 0.8).all()


def grid_notebook(grid):
    "The run notebook a shipped grid belongs to: the longest notebook name its file name starts with."
    stems = sorted((p.stem for p in (ROOT / "nbs" / "runs").glob("*.ipynb")), key=len, reverse=True)
    return ROOT / "nbs" / "runs" / f"{next(s for s in stems if grid.stem.startswith(s))}.ipynb"


@pytest.mark.parametrize("grid", sorted((ROOT / "nbs" / "runs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_grids_name_declared_parameters(grid):
    "Every parameter a shipped sweep grid sets is one its run notebook declares (papermill's parser can miss one)."
    from carbonflux_nb.workflows import load_grid, check_parameters
    nb = grid_notebook(grid)
    _, runs = load_grid(grid)
    assert runs
    for r in runs: check_parameters(nb, r)
