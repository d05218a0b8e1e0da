"""Time the teacher's path (nbs/90_teachers_path.ipynb) as a workshop's participants run it.

Each notebook of the path is executed at its full size (IN_TEST unset, unlike `make test`), one at a time, in a fresh
kernel started in nbs/, as on a participant's laptop. Cells flagged `#| slow` or `#| notest` are left out, as the
tests and the book leave them out (the heavy experiments that a chapter shows from stored results, and nbdev's export
cell): a class skips them too; how many each notebook has goes into times.json. Every cell's wall time is added to the part (`## N. ...`
heading) it belongs to; the kernel's start counts to the first part. The result goes to
nbs/results/workshop/times.csv (notebook, part, seconds) with times.json beside it (the machine, the date, and a
hash of each notebook's code, so the page can say when a lesson changed after it was timed). Both are written
atomically; a notebook that fails stops the run with its error and writes nothing.

    .venv/bin/python tools/time_workshop.py            # every notebook of the path (2 minutes on 2 cores)
    .venv/bin/python tools/time_workshop.py --only 72_lesson_enkf_lorenz96   # re-time one, keep the others
"""
import argparse, hashlib, json, os, platform, re, subprocess, sys, time
from pathlib import Path

from build_book import skipped, tst_flags  # the same rule as the tests' and the book's for which cells to leave out

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
OUT = NBS / "results" / "workshop"

# the path: (stage, notebook stem) in the order a class takes them
PATH = [("twin world", "09_twin.land"),
        ("eddy covariance", "17_lesson_ec_de_tha"),
        ("transport", "57_lesson_atmos_workshop"),
        ("inversion", "63_lesson_inversion_twin"),
        ("ensemble filter", "72_lesson_enkf_lorenz96"),
        ("ensemble filter", "73_lesson_enkf_twin")]


def code_hash(nb_path) -> str:
    "A hash of the notebook's code cells (what decides its run time; prose edits do not change it)."
    cells = json.loads(Path(nb_path).read_text())["cells"]
    return hashlib.sha256("\n\0".join("".join(c["source"]) for c in cells if c["cell_type"] == "code").encode()).hexdigest()[:16]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"): return line.split(":", 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()


def time_notebook(path: Path, timeout=1800) -> tuple:
    """([(part, seconds)], number of cells left out) for one notebook run at full size; raises RuntimeError naming the
    cell that failed."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from carbonflux_nb.workflows import noninteractive_env
    env = {k: v for k, v in os.environ.items() if k != "IN_TEST"}
    env.update(noninteractive_env(), MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    parts, part, left_out, flags, t0 = {}, "setup", 0, tst_flags(), time.perf_counter()
    with client.setup_kernel(cwd=str(path.parent), env=env, stderr=subprocess.DEVNULL):
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "markdown":
                m = re.search(r"^##\s+(.+)$", cell.source, re.M)
                if m: part = m.group(1).strip()
                continue
            if skipped(cell, flags):
                left_out += 1; continue
            try: client.execute_cell(cell, i)
            except CellExecutionError as e: raise RuntimeError(f"{path.name}, cell {i} ({cell.get('id', '?')}): {e}") from None
            t1 = time.perf_counter()
            parts[part] = parts.get(part, 0.0) + (t1 - t0)
            t0 = t1
    return list(parts.items()), left_out


def write_atomic(path: Path, text: str):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text); tmp.replace(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None, help="notebook stems to re-time; the others keep their rows")
    a = ap.parse_args(argv)
    import pandas as pd
    OUT.mkdir(parents=True, exist_ok=True)
    csv, meta_path = OUT / "times.csv", OUT / "times.json"
    old = pd.read_csv(csv) if a.only and csv.exists() else pd.DataFrame(columns=["stage", "notebook", "part", "seconds"])
    meta = json.loads(meta_path.read_text()) if a.only and meta_path.exists() else {"notebooks": {}}
    rows = []
    for stage, stem in PATH:
        if a.only and stem not in a.only:
            rows += old[old.notebook == stem].to_dict("records"); continue
        nb = NBS / f"{stem}.ipynb"
        print(f"{stem} ...", end=" ", flush=True)
        parts, left_out = time_notebook(nb)
        print(f"{sum(s for _, s in parts):.0f} s")
        rows += [{"stage": stage, "notebook": stem, "part": p, "seconds": round(s, 1)} for p, s in parts]
        meta["notebooks"][stem] = {"code_hash": code_hash(nb), "timed": time.strftime("%Y-%m-%d"), "cells_left_out": left_out}
    meta.update(cpu=cpu_model(), cores=os.cpu_count(), python=platform.python_version(),
                command="python tools/time_workshop.py")
    write_atomic(csv, pd.DataFrame(rows).to_csv(index=False))
    write_atomic(meta_path, json.dumps(meta, indent=1) + "\n")
    print(f"wrote {csv.relative_to(ROOT)} and {meta_path.name}")


if __name__ == "__main__":
    sys.exit(main())
