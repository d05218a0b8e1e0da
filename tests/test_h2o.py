"""No orphan h2o JVM: a session started by `gpp.automl.H2OSession` is gone (checked by its PID) after a normal
exit, after an error inside the `with` block, after Ctrl-C and after SIGKILL of its process (its watchdog stops it),
each in a process of its own; the watchdog process is gone too."""
import json, signal, subprocess, sys, time
import psutil, socket
import pytest
from conftest import default_sigint

pytest.importorskip("h2o")

SCRIPT = r"""
import json, sys, time
from carbonflux_nb.gpp.automl import H2OSession
how = sys.argv[1]
with H2OSession(offset=int(sys.argv[2]), max_mem="1G", nthreads=1) as s:
    print(json.dumps({"pid": s.pid, "port": s.port, "watchdog": s._watchdog.pid}), flush=True)
    if how == "error": raise RuntimeError("boom inside the session")
    if how == "wait": time.sleep(120)
"""

def _gone(pid:int, timeout:float=40) -> bool:
    "True once the process `pid` no longer exists (or is a zombie)."
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE: return True
        except psutil.NoSuchProcess: return True
        time.sleep(0.3)
    return False

def _start(how:str, offset:int):
    p = subprocess.Popen([sys.executable, "-c", SCRIPT, how, str(offset)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=default_sigint)
    line = p.stdout.readline()
    assert line, f"no session started: {p.stderr.read()[-3000:]}"
    return p, json.loads(line)

@pytest.mark.xdist_group("h2o")
@pytest.mark.parametrize("how,offset", [("normal", 41), ("error", 43)])   # h2o takes port and port + 1: offsets 2 apart
def test_h2o_jvm_is_gone_after_the_session(how, offset):
    p, info = _start(how, offset)
    assert psutil.pid_exists(info["pid"])
    rc = p.wait(timeout=120)
    assert (rc == 0) == (how == "normal"), p.stderr.read()[-2000:]
    assert _gone(info["pid"]), f"h2o JVM {info['pid']} still running after a session that ended ({how})"
    assert _gone(info["watchdog"], 10), f"watchdog {info['watchdog']} still running after a session that ended ({how})"

@pytest.mark.xdist_group("h2o")
def test_h2o_jvm_is_gone_after_ctrl_c():
    p, info = _start("wait", 45)
    p.send_signal(signal.SIGINT)
    p.wait(timeout=120)
    assert _gone(info["pid"]), f"h2o JVM {info['pid']} still running after Ctrl-C"
    assert _gone(info["watchdog"], 10)

@pytest.mark.xdist_group("h2o")
def test_h2o_jvm_is_gone_after_sigkill_of_its_owner():
    "SIGKILL of the process that opened the session (no `close` runs): its watchdog stops the JVM, then ends itself."
    p, info = _start("wait", 49)
    assert psutil.pid_exists(info["pid"]) and psutil.pid_exists(info["watchdog"])
    p.kill(); p.wait(timeout=30)
    assert _gone(info["pid"], 30), f"h2o JVM {info['pid']} still running 30 s after its owner was killed"
    assert _gone(info["watchdog"], 15), f"watchdog {info['watchdog']} still running after it stopped the JVM"

@pytest.mark.xdist_group("h2o")
def test_h2o_default_port_taken_uses_the_next_free_pair():
    "A default port held by something else (here a plain socket) is skipped with a warning, never attached to."
    from carbonflux_nb.config import get_settings
    want = get_settings().h2o_port + 47
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", want)); held.listen()
        p, info = _start("normal", 47)
        assert info["port"] != want and info["port"] > want + 1, info
        assert p.wait(timeout=120) == 0, p.stderr.read()[-2000:]
    assert _gone(info["pid"])
