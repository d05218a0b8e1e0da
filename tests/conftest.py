"Shared fixtures: the project root, and a small run notebook written for the tests."
import os, sys
from pathlib import Path
import nbformat, pytest
from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# h2o's JVMs with the quick JIT only (settings.ini: h2o_jvm_args): the same models from about half the JVM's CPU time on
# the tests' small fits, where the optimising compiler's threads would compete with the notebooks running beside them
# (measured: 4 PFTs of the tiny Tibetan world, H2O AutoML with 3 models each, 33 -> 19 CPU seconds of the JVM).
# Inherited by every notebook and command the tests start; a value set by the caller wins.
os.environ.setdefault("CARBONFLUX_H2O_JVM_ARGS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


@pytest.fixture(scope="session")
def root():
    return ROOT


def carbonflux_cmd():
    "The installed command line, from the same environment as the tests."
    exe = BIN / "carbonflux"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "carbonflux_nb.cli"]


@pytest.fixture
def toy_notebook(tmp_path):
    "A run notebook that logs each start, optionally sleeps and fails, and records x**2."
    nb = new_notebook(cells=[
        new_markdown_cell("# Toy run"),
        new_code_cell("x: int = 1             # the number\nfail: bool = False     # fail on purpose\n"
                      "sleep_s: float = 0.0   # seconds to wait\nlog: str = ''          # file that counts starts",
                      metadata={"tags": ["parameters"]}),
        new_code_cell("import time\nfrom pathlib import Path\nfrom carbonflux_nb.workflows import record\n"
                      "if log:\n    with open(log, 'a') as f: f.write(f'{x}\\n')\n"
                      "time.sleep(sleep_s)\nassert not fail, 'failing on request'\n"
                      "Path('product.txt').write_text(str(x ** 2))\nrecord('y', x ** 2)"),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    p = tmp_path / "toy.ipynb"
    nbformat.write(nb, p)
    return p


def default_sigint():
    """preexec_fn for test subprocesses that are sent Ctrl-C: SIGINT back to Python's default. A process started
    with SIGINT ignored keeps it ignored (POSIX), and a pytest worker can end up ignoring it after other tests
    ran in it (libraries that start servers change the handler), so without this a simulated Ctrl-C may never arrive."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# The slowest tests, seconds on the 2-core machine (`make test` prints the 30 slowest; update when they change a lot).
# They are started first, so that pytest-xdist's workers do not end with one long notebook running alone. The compiled-kernels
# test goes before everything (999): it fills numba's cache before the notebooks that use those kernels start (test_kernels.py).
SLOW_FIRST = {"test_compiled_kernels_in_a_fresh_process": 999, "41_gpp.sif_ec": 110, "21_gpp.automl_products": 106, "71_inversion.mcas": 97, "20_gpp.automl": 88,
              "22_lesson_automl_fluxnet": 87, "33_lesson_fluxformer_twin": 81, "62_inversion.mega": 72, "runs/automl_gpp": 72,
              "31_gpp.fluxformer": 60, "runs/sif_ec": 58, "runs/mcas": 57, "70_inversion.enkf": 55, "34_lesson_fluxformer_fluxnet": 49,
              "runs/fluxformer": 46, "runs/gridded_drivers": 31, "test_same_seed_same_numbers_other_seed_others": 43, "09_twin.land": 32,
              "test_sweep_whose_runs_use_the_same_cluster": 29, "test_sweep_failure_interrupt_resume": 28}


def _expected_seconds(item) -> float:
    name = item.name.removeprefix("test_notebook[").removesuffix(".ipynb]")
    return SLOW_FIRST.get(name, 0)


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=_expected_seconds, reverse=True)     # stable: the rest keep their order
