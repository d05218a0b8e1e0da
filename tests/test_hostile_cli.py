"""Hostile input to the command line and the workflows: each mistake ends with exactly one line `carbonflux: error: ...`
naming the file, setting or value at fault and exit status 2, before any kernel or cluster starts; a scheduler address
that is not a dask scheduler fails within its timeout; two sweeps never share a folder; a sweep prints no worker
tracebacks or kernel warnings. `main` runs in this process wherever it can (a subprocess costs seconds of imports)."""
import json, os, signal, socket, subprocess, sys, threading
from pathlib import Path
import pytest
import yaml
from conftest import ROOT, carbonflux_cmd

from carbonflux_nb.cli import main
from carbonflux_nb.config import use_settings
from carbonflux_nb.core import ConfigError


@pytest.fixture
def cli(capsys):
    "Call `main` in this process; returns (status, stdout, stderr). The environment and settings it changes are restored."
    env, prev = dict(os.environ), use_settings(None)
    for k in [k for k in os.environ if k.startswith("CARBONFLUX_") and k != "CARBONFLUX_H2O_JVM_ARGS"]:
        del os.environ[k]

    def call(*argv, env_set=None):
        os.environ.update(env_set or {})
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    yield call
    os.environ.clear(); os.environ.update(env); use_settings(prev)


def one_error_line(err: str) -> str:
    "The single line of stderr, which must be `carbonflux: error: ...` (progress bars aside)."
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip() and not ln.startswith("runs in ")]
    assert len(lines) == 1 and lines[0].startswith("carbonflux: error: "), err
    return lines[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# (name, argv builder from (toy notebook, tmp_path), environment, what the one line must say)
def _grid(tmp, text):
    return ["sweep", "{nb}", "--grid", write(tmp / "grid.yaml", text), "--out", tmp / "out", "--sequential"]


def _run(nb, tmp, name, value):
    return ["run", nb, "-p", name, value, "--out", tmp / "out"]


def _ini(tmp, edit):
    return ["--settings", write(tmp / "settings.ini", edit((ROOT / "settings.ini").read_text())), "settings"]


SEED_LINE = (ROOT / "settings.ini").read_text().splitlines().index(next(
    ln for ln in (ROOT / "settings.ini").read_text().splitlines() if ln.startswith("seed ="))) + 1   # where the bad line goes

CASES = [
    ("unknown-command", lambda nb, t: ["nosuch"], {}, "argument command: invalid choice: 'nosuch'"),
    ("unknown-notebook", lambda nb, t: ["run", t / "no_such_run.ipynb"], {}, "no_such_run.ipynb: notebook not found"),
    ("not-a-notebook", lambda nb, t: ["params", write(t / "junk.ipynb", "{not json")], {}, "junk.ipynb: not a readable notebook"),
    ("param-int-text", lambda nb, t: _run(nb, t, "x", "abc"), {}, "toy.ipynb: parameter x: expected int, got 'abc'"),
    ("param-bool-text", lambda nb, t: _run(nb, t, "fail", "maybe"), {}, "parameter fail: expected bool, got 'maybe'"),
    ("param-float-text", lambda nb, t: _run(nb, t, "sleep_s", "fast"), {}, "parameter sleep_s: expected float, got 'fast'"),
    ("param-int-list", lambda nb, t: _run(nb, t, "x", "[1, 2]"), {}, "parameter x: expected int, got [1, 2]"),
    ("grid-bad-yaml", lambda nb, t: _grid(t, "parameters:\n  x: [1, 2\n"), {}, "grid.yaml: not valid YAML (line 3"),
    ("grid-a-list", lambda nb, t: _grid(t, "- x: 1\n- x: 2\n"), {}, "grid.yaml: a grid file must be a mapping"),
    ("grid-empty-list", lambda nb, t: _grid(t, "parameters: {x: []}\n"), {}, "variable 'x': parameter 'x' needs a non-empty list"),
    ("grid-fixed-a-list", lambda nb, t: _grid(t, "fixed: [1, 2]\nparameters: {x: [1]}\n"), {}, "'fixed' must be a mapping"),
    ("grid-undeclared", lambda nb, t: _grid(t, "parameters: {z: [1, 2]}\n"), {}, "unknown parameters ['z']"),
    ("grid-wrong-type", lambda nb, t: _grid(t, "parameters: {x: [1, two]}\n"), {}, "parameter x: expected int, got 'two'"),
    ("grid-name-escapes", lambda nb, t: _grid(t, "name: ../../elsewhere\nparameters: {x: [1]}\n"), {},
     "sweep name '../../elsewhere' must be a plain folder name"),
    ("run-id-escapes", lambda nb, t: ["run", nb, "--run-id", "../up", "--out", t], {}, "run id '../up' must be a plain folder name"),
    ("out-is-a-file", lambda nb, t: ["run", nb, "--out", write(t / "afile", "x")], {}, "afile: the output folder is a file"),
    ("out-unwritable", lambda nb, t: ["run", nb, "--out", write(t / "afile", "x") / "sub"], {},
     "afile/sub: cannot create the output folder: Not a directory"),
    ("workers-negative", lambda nb, t: ["--workers", "-1", "settings"], {}, "argument --workers: expected a whole number of at least 1, got '-1'"),
    ("max-parallel-zero", lambda nb, t: _grid(t, "parameters: {x: [1]}\n") + ["--max-parallel", "0"], {}, "argument --max-parallel"),
    ("env-workers-zero", lambda nb, t: ["settings"], {"CARBONFLUX_DASK_WORKERS": "0"},
     "environment variable CARBONFLUX_DASK_WORKERS: 'dask_workers = 0' must be at least 1"),
    ("env-seed-text", lambda nb, t: ["settings"], {"CARBONFLUX_SEED": "abc"},
     "error: environment variable CARBONFLUX_SEED: 'seed = abc' is not a valid int"),
    ("env-scheduler-timeout", lambda nb, t: ["settings"], {"CARBONFLUX_SCHEDULER_TIMEOUT": "-1"},
     "CARBONFLUX_SCHEDULER_TIMEOUT: 'scheduler_timeout = -1' must be a positive number of seconds"),
    ("ini-line-without-equals", lambda nb, t: _ini(t, lambda s: s.replace("\nseed =", "\nseed_without_value\nseed =")), {},
     f"settings.ini line {SEED_LINE}: 'seed_without_value' is not 'key = value'"),
    ("ini-no-section", lambda nb, t: _ini(t, lambda s: "seed = 1\n" + s), {},
     "settings.ini line 1: 'seed = 1' comes before any [section] header"),
    ("ini-duplicate-key", lambda nb, t: _ini(t, lambda s: s.replace("\nseed =", "\nseed = 1\nseed =")), {},
     "key 'seed' appears twice in [carbonflux]"),
    ("ini-unknown-key", lambda nb, t: _ini(t, lambda s: s.replace("\nseed =", "\nsed = 1\nseed =")), {},
     "settings.ini [carbonflux]: unknown keys ['sed']"),
    ("ini-missing", lambda nb, t: ["--settings", t / "nope.ini", "settings"], {}, "nope.ini not found"),
]


@pytest.mark.parametrize("argv, env, says", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_status_2(cli, toy_notebook, tmp_path, argv, env, says):
    args = [str(a).replace("{nb}", str(toy_notebook)) for a in argv(toy_notebook, tmp_path)]
    code, out, err = cli(*args, env_set=env)
    line = one_error_line(err)
    assert code == 2 and says in line, line
    assert not (tmp_path / "out").exists()                                  # stopped before anything ran
    if "CARBONFLUX_SEED" in env: assert "settings.ini" not in line


def test_debug_shows_the_traceback(cli):
    "CARBONFLUX_DEBUG=1 (or --debug) raises instead; the variable itself is not taken for a misspelt setting."
    with pytest.raises(ConfigError, match="CARBONFLUX_SEED"):
        cli("settings", env_set={"CARBONFLUX_DEBUG": "1", "CARBONFLUX_SEED": "abc"})
    code, out, _ = cli("--debug", "settings", env_set={"CARBONFLUX_SEED": "7"})
    assert code == 0 and json.loads(out)["seed"] == "7"


# --- a scheduler address that answers but is not dask, or does not answer -------------------------------------------
def fake_server(mode: str):
    "A TCP server on loopback that accepts and says nothing ('silent') or sends an HTTP reply ('garbage'); its address."
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8)
    conns = []
    def serve():
        while True:
            try: c, _ = srv.accept()
            except OSError: return
            conns.append(c)
            if mode == "garbage": c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 4)
    threading.Thread(target=serve, daemon=True).start()
    return f"tcp://127.0.0.1:{srv.getsockname()[1]}", srv


@pytest.mark.parametrize("mode", ["silent", "garbage", "refused"])
def test_sweep_on_a_scheduler_that_is_not_dask(cli, toy_notebook, tmp_path, mode):
    if mode == "refused":
        s = socket.socket(); s.bind(("127.0.0.1", 0)); addr = f"tcp://127.0.0.1:{s.getsockname()[1]}"; s.close(); srv = None
    else:
        addr, srv = fake_server(mode)
    grid = write(tmp_path / "g.yaml", "parameters: {x: [1]}\n")
    result = {}
    t = threading.Thread(target=lambda: result.update(r=cli("--scheduler", addr, "--scheduler-timeout", "2", "sweep",
                                                            toy_notebook, "--grid", grid, "--out", tmp_path)), daemon=True)
    t.start(); t.join(120)                        # a guard against the old hang, not a timing assertion
    if srv: srv.close()
    assert not t.is_alive(), f"the sweep still waits for {addr}"
    code, _, err = result["r"]
    line = one_error_line(err)
    assert code == 2 and addr in line, line
    assert {"silent": "does not answer as a dask scheduler within 2 s", "garbage": "does not answer as a dask scheduler",
            "refused": "connection refused"}[mode] in line
    assert "EiB" not in line


# --- two sweeps, one folder ------------------------------------------------------------------------------------------
HOLD = """import fcntl, json, os, socket, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}).encode())
print("held", flush=True); time.sleep(float(sys.argv[2]))
os.unlink(sys.argv[1])"""


def hold_lock(folder: Path, seconds: float):
    "Another process holding the folder's sweep lock, as a running sweep does."
    folder.mkdir(parents=True, exist_ok=True)
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder / "sweep.lock"), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_second_sweep_refuses_and_leaves_the_first_alone(cli, toy_notebook, tmp_path):
    sweep_dir = tmp_path / "out" / "s"
    first = hold_lock(sweep_dir, 60)
    try:
        running = sweep_dir / ".toy-123.abcdef12.tmp"; running.mkdir()       # the first sweep's run in progress
        code, _, err = cli("sweep", toy_notebook, "--grid", write(tmp_path / "g.yaml", "name: s\nparameters: {x: [1]}\n"),
                           "--out", tmp_path / "out", "--sequential")
        line = one_error_line(err)
        assert code == 2 and str(sweep_dir) in line and f"pid {first.pid}" in line and "another sweep is running" in line
        assert running.is_dir() and sorted(p.name for p in sweep_dir.iterdir()) == [running.name, "sweep.lock"]
    finally:
        first.send_signal(signal.SIGTERM); first.wait()


def test_wait_for_the_other_sweep(cli, toy_notebook, tmp_path):
    first = hold_lock(tmp_path / "s", 1.5)
    code, _, err = cli("sweep", toy_notebook, "--grid", write(tmp_path / "g.yaml", "name: s\nparameters: {x: [3]}\n"),
                       "--out", tmp_path, "--sequential", "--wait")
    first.wait()
    assert code == 0 and "waiting for the sweep in" in err and f"pid {first.pid}" in err, err
    assert json.loads(next((tmp_path / "s").glob("toy-*/results.json")).read_text()) == {"y": 9}


def test_stale_lock_is_taken_over(cli, toy_notebook, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"]); dead.wait()    # a pid that no longer runs
    (tmp_path / "s").mkdir()
    write(tmp_path / "s" / "sweep.lock", json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "yesterday"}))
    code, _, err = cli("sweep", toy_notebook, "--grid", write(tmp_path / "g.yaml", "name: s\nparameters: {x: [2]}\n"),
                       "--out", tmp_path, "--sequential")
    assert code == 0 and f"taking over the stale lock of pid {dead.pid}" in err, err
    assert not (tmp_path / "s" / "sweep.lock").exists()                      # released at the end
    assert json.loads(next((tmp_path / "s").glob("toy-*/results.json")).read_text()) == {"y": 4}


# --- no worker tracebacks or kernel warnings -------------------------------------------------------------------------
NOISE = ["Traceback", "Failed to communicate with scheduler", "still alive", "without encryption",
         "KeyboardInterrupt caught"]


@pytest.mark.skipif(os.name == "nt", reason="IPC sockets are POSIX only; Windows keeps TCP")
def test_run_kernels_never_draw_the_same_port():
    """jupyter_client picks TCP ports by opening and closing them, remembering them only within its process: two sweep
    workers once started kernels on the same heartbeat port (a kernel traceback in CI). Run kernels use IPC sockets,
    each under a prefix of its own."""
    from carbonflux_nb.workflows import _kernel_manager
    a, b = (_kernel_manager()(kernel_name="python3") for _ in range(2))
    assert a.transport == b.transport == "ipc"
    assert a.ip != b.ip and all(len(f"{k.ip}-99999") < 104 for k in (a, b))

def test_a_sweep_prints_no_tracebacks_or_warnings(toy_notebook, tmp_path):
    "A sweep on a local cluster of two worker processes, as the command runs it: its output is the progress and the summary."
    (tmp_path / "g.yaml").write_text(yaml.safe_dump({"name": "quiet", "parameters": {"x": [1, 2]}}))
    r = subprocess.run(carbonflux_cmd() + ["--workers", "2", "sweep", str(toy_notebook), "--grid", str(tmp_path / "g.yaml"),
                                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    both = r.stdout + r.stderr
    assert r.returncode == 0 and "sweep: 2 ok, 0 failed" in r.stdout, both[-3000:]
    assert not [s for s in NOISE if s in both], both[-3000:]
