"""JupyterLab and executed notebooks (issue 23): `make lab`'s server with the project's "carbonflux_nb" kernel, driven
through its REST and websocket APIs as the browser would; and the executed notebook and HTML page of a run: progress
bars as one final line, no widget warning, nothing loaded from the web."""
import ast, json, os, re, secrets, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import nbformat, psutil, pytest
from nbformat.v4 import new_code_cell, new_markdown_cell

import carbonflux_nb
from carbonflux_nb.workflows import run_notebook

ROOT = Path(__file__).resolve().parents[1]
KERNEL = "carbonflux_nb"


# --- progress bars and the run page ------------------------------------------------------------------------------------

LOOPS = """from tqdm import tqdm as text_tqdm
from tqdm.auto import tqdm
from carbonflux_nb.workflows import progress_bar
for i in progress_bar(range(10_000), desc="package"): pass
for i in text_tqdm(range(10_000), desc="every-step", mininterval=0, miniters=25): pass   # 400 redraws
for i in tqdm(range(10_000), desc="auto"): pass
for i in tqdm(range(10_000), desc="hidden", leave=False): pass
print("loops done")"""


def _streams(nb, name):
    return "".join(o.text for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream" and o.name == name)


def test_run_keeps_one_progress_line_and_its_page_loads_nothing_from_the_web(toy_notebook, tmp_path):
    "The toy run notebook with four tqdm loops of 10,000 steps and some maths, run by run_notebook."
    nb = nbformat.read(toy_notebook, as_version=4)
    nb.cells.append(new_code_cell(LOOPS))
    nb.cells.insert(1, new_markdown_cell("The maths $x^2$ and $$\\int_0^1 f\\,dt$$"))
    nbformat.write(nb, toy_notebook)
    rec = run_notebook(toy_notebook, {"x": 2}, tmp_path / "out", progress=False)
    assert rec["status"] == "ok", rec["error"]
    run_dir = Path(rec["run_dir"])
    nb = nbformat.read(run_dir / toy_notebook.name, as_version=4)

    # the executed notebook: each bar one final line (thousands of redraws tidied away), no widget warning or state
    err = _streams(nb, "stderr")
    text = err + "".join(o.get("data", {}).get("text/plain", "") for o in nb.cells[-1].outputs)
    assert len(err) < 2000, f"{len(err)} characters of stderr kept: {err[:500]!r}"
    for desc in ("package", "every-step", "auto"):
        lines = [ln for ln in text.splitlines() if ln.startswith(desc + ":")]
        assert len(lines) == 1 and "100%" in lines[0] and "10000/10000" in lines[0], (desc, lines)
    assert "hidden" not in text                                    # leave=False: gone at the end, as on screen
    assert "\r" not in text and "\x1b" not in text
    assert "IProgress" not in text                                 # ipywidgets is installed (the lab extra)
    assert "loops done\n" in _streams(nb, "stdout")
    assert "widgets" not in nb.metadata                            # no widget state: the page needs no widget manager

    # the HTML page: MathJax from the local copy beside the run folders, and no other script, style sheet or font
    page = (run_dir / toy_notebook.with_suffix(".html").name).read_text()
    refs = re.findall(r"<script[^>]*\ssrc=[\"']([^\"']*)", page) + re.findall(r"<link[^>]*\shref=[\"']([^\"']*)", page)
    refs += re.findall(r"url\(\s*[\"']?([^\"')]*)", page) + re.findall(r"@import\s+[\"']([^\"']*)", page)
    assert [r for r in refs if not r.startswith("data:")] == ["../_static/mathjax/tex-chtml-full.js"], refs
    assert (run_dir / refs[0]).resolve().is_file()
    assert (run_dir.parent / "_static/mathjax/output/chtml/fonts/woff-v2").is_dir()
    assert not re.search(r"https?://|//cdn|unpkg", page), re.search(r".{60}(https?://|//cdn|unpkg).{60}", page)
    assert "inlineMath: [['$', '$']" in page and "$x^2$" in page   # MathJax 3 configured for Jupyter's $...$


# --- JupyterLab ---------------------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def _kernel_env(tmp: Path) -> dict:
    """The server's environment: the "carbonflux_nb" kernel as `make lab` registers it in the venv; where it is not
    registered there (make lab not run yet), the same `ipykernel install` into a temporary prefix on JUPYTER_PATH."""
    from jupyter_client.kernelspec import KernelSpecManager
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces")}
    if KERNEL not in KernelSpecManager().find_kernel_specs():
        from ipykernel.kernelspec import install
        install(kernel_name=KERNEL, display_name=KERNEL, prefix=str(tmp / "prefix"))
        env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(tmp / "prefix/share/jupyter"), os.environ.get("JUPYTER_PATH")]))
    return env


class Lab:
    def __init__(self, port, token, proc): self.port, self.token, self.proc = port, token, proc

    def api(self, method, path, body=None, timeout=30):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            data = r.read()
            return r.status, (json.loads(data) if data else None)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    "`make lab`'s server (127.0.0.1, no browser, the project as its root) on a free port; shut down and checked after."
    tmp = tmp_path_factory.mktemp("lab")
    port, token = _free_port(), secrets.token_hex(16)
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                             f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                             f"--ServerApp.root_dir={ROOT}", *(["--allow-root"] if os.geteuid() == 0 else []),
                             "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                             "--LabApp.extension_manager=readonly"],        # nothing asks the web for news or updates
                            env=_kernel_env(tmp), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    server = Lab(port, token, proc)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None: pytest.fail(f"jupyter lab exited ({proc.returncode}):\n{(tmp / 'server.log').read_text()[-3000:]}")
            try:
                if server.api("GET", "/api/status", timeout=5)[0] == 200: break
            except OSError: pass
            if time.monotonic() > deadline: pytest.fail(f"jupyter lab did not answer:\n{(tmp / 'server.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield server
    finally:
        family = [psutil.Process(proc.pid)] + psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
        if proc.poll() is None:
            try: server.api("POST", "/api/shutdown", timeout=10)
            except OSError: pass
            try: proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill(); proc.wait(10)
        log.close()
        gone, alive = psutil.wait_procs(family, timeout=15)
        for p in alive: p.kill()
        assert not alive, f"left running after the server shut down: {alive}"


def _execute(lab, kernel_id, code, timeout=60):
    "Run `code` in the kernel through its websocket channel, as JupyterLab does: (reply status, text/plain result)."
    import websocket
    ws = websocket.create_connection(f"ws://127.0.0.1:{lab.port}/api/kernels/{kernel_id}/channels?token={lab.token}",
                                     timeout=timeout)
    try:
        msg_id = secrets.token_hex(8)
        ws.send(json.dumps({"channel": "shell", "buffers": [], "metadata": {}, "parent_header": {},
                            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                                       "session": secrets.token_hex(8), "version": "5.3"},
                            "content": {"code": code, "silent": False, "store_history": False,
                                        "user_expressions": {}, "allow_stdin": False}}))
        result, status, idle, deadline = None, None, False, time.monotonic() + timeout
        # the shell reply and the iopub messages (result, then status idle) come over one socket in no fixed order:
        # done when both the reply and the kernel's return to idle have arrived
        while not (status and idle) and time.monotonic() < deadline:
            m = json.loads(ws.recv())
            if m.get("parent_header", {}).get("msg_id") != msg_id: continue
            if m["msg_type"] == "execute_result": result = m["content"]["data"]["text/plain"]
            elif m["msg_type"] == "error": result = "\n".join(m["content"]["traceback"])
            elif m["msg_type"] == "execute_reply": status = m["content"]["status"]
            elif m["msg_type"] == "status" and m["content"]["execution_state"] == "idle": idle = True
        return status, result
    finally:
        ws.close()


def test_lab_opens_a_chapter(lab):
    status, model = lab.api("GET", "/api/contents/nbs/00_core.ipynb")
    assert status == 200 and model["type"] == "notebook" and model["format"] == "json"
    first = "".join(model["content"]["cells"][1]["source"])
    assert first.startswith("# "), first[:80]                       # the chapter's title cell
    assert KERNEL in lab.api("GET", "/api/kernelspecs")[1]["kernelspecs"]


def test_lab_runs_a_cell_in_the_carbonflux_nb_kernel(lab):
    status, kernel = lab.api("POST", "/api/kernels", {"name": KERNEL})
    assert status == 201 and kernel["name"] == KERNEL
    try:
        status, result = _execute(lab, kernel["id"], "import carbonflux_nb, sys\n(carbonflux_nb.__version__, sys.executable)")
        assert status == "ok", result
        version, exe = ast.literal_eval(result)                     # a tuple of two strings, from the kernel
        assert version == carbonflux_nb.__version__
        assert Path(exe).parent == Path(sys.executable).parent      # the project's environment, not another Python
    finally:
        assert lab.api("DELETE", f"/api/kernels/{kernel['id']}")[0] == 204
    assert kernel["id"] not in [k["id"] for k in lab.api("GET", "/api/kernels")[1]]
