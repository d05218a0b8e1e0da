"""The package's shape, checked: no module imports another module's private names, no notebook code cell is longer
than a screen, and importing one chapter's module does not import the heavy libraries other chapters need."""
import ast, json, re, subprocess, sys
from pathlib import Path
import pytest
from conftest import ROOT

PKG = ROOT / "carbonflux_nb"
MODULES = sorted(p for p in PKG.rglob("*.py") if p.name != "_modidx.py" and "__pycache__" not in p.parts)
MAX_CELL_LINES = 60


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported_from(node: ast.ImportFrom, here: str) -> str:
    "The absolute module name an ImportFrom node reads from."
    if not node.level: return node.module or ""
    base = here.split(".")[:-node.level]
    return ".".join(base + ([node.module] if node.module else []))


def private_imports(path: Path, here: str = None) -> list:
    "'X imports _y from Z' for every import of another module's private name in the module at `path` (named `here`)."
    here = here or module_name(path)
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            src = imported_from(node, here)
            if not src.startswith("carbonflux_nb") or src == here: continue
            out += [f"{here} imports {a.name} from {src}" for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    return out


def test_no_private_cross_imports():
    found = [msg for p in MODULES for msg in private_imports(p)]
    assert not found, "modules import other modules' private names (make them public or move them):\n" + "\n".join(found)


def test_the_check_finds_one(tmp_path):
    "The check above is not vacuous: a module that imports a private name is caught."
    bad = tmp_path / "probe.py"
    bad.write_text("from ..core import _weights\nfrom .common import _other_modules\nfrom .probe import _its_own\n"
                   "from carbonflux_nb.io import atomic_output, _private\n")
    assert private_imports(bad, "carbonflux_nb.ec.probe") == [
        "carbonflux_nb.ec.probe imports _weights from carbonflux_nb.core",
        "carbonflux_nb.ec.probe imports _other_modules from carbonflux_nb.ec.common",
        "carbonflux_nb.ec.probe imports _private from carbonflux_nb.io"]


def long_cells() -> list:
    out = []
    for nb in sorted((ROOT / "nbs").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in nb.parts: continue
        for i, c in enumerate(json.loads(nb.read_text())["cells"]):
            n = len("".join(c["source"]).splitlines())
            if c["cell_type"] == "code" and n > MAX_CELL_LINES: out.append(f"{nb.relative_to(ROOT)} cell {i}: {n} lines")
    return out


def test_no_code_cell_longer_than_a_screen():
    found = long_cells()
    assert not found, f"code cells over {MAX_CELL_LINES} lines (split them at function boundaries):\n" + "\n".join(found)


HEAVY = ("matplotlib.pyplot", "torch", "h2o", "shap", "cartopy", "dask.distributed", "flaml", "xgboost", "sklearn")


@pytest.mark.parametrize("module,allowed", [("carbonflux_nb.ec.pipeline", ()), ("carbonflux_nb.inversion.bayes", ()),
                                            ("carbonflux_nb.gpp.automl", ()), ("carbonflux_nb.atmos.readers", ()),
                                            ("carbonflux_nb.gridded", ())])
def test_light_imports(module, allowed):
    "Importing a chapter's module loads no heavy library it does not need at import time (they load where used)."
    code = f"import sys, {module}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    loaded = set(r.stdout.split()) - set(allowed)
    assert not loaded, f"importing {module} loads {sorted(loaded)}"


LESSONS = sorted((ROOT / "nbs").glob("*_lesson_*.ipynb"))
MIN_EXERCISES = 2


def exercise_problems(path: Path) -> list:
    """What is wrong with a lesson's exercises (CONTRIBUTING.md, "Lessons"): each is a markdown cell starting
    '**Exercise N.**', numbered from 1, and is followed at once by its solution, a code cell starting '# Solution to
    exercise N' tagged `solution` and `hide-cell` (the book folds it) and folded in JupyterLab (`jupyter.source_hidden`)."""
    cells, out, n = json.loads(path.read_text())["cells"], [], 0
    for i, c in enumerate(cells):
        src = "".join(c["source"])
        if c["cell_type"] == "markdown" and src.startswith("**Exercise"):
            n += 1
            if not src.startswith(f"**Exercise {n}.**"): out.append(f"cell {i}: exercise {n} is not numbered '**Exercise {n}.**'")
            nxt = cells[i + 1] if i + 1 < len(cells) else None
            if nxt is None or nxt["cell_type"] != "code" or not "".join(nxt["source"]).startswith(f"# Solution to exercise {n}"):
                out.append(f"cell {i}: exercise {n} is not followed by a code cell '# Solution to exercise {n}'")
                continue
            meta = nxt.get("metadata", {})
            if not {"solution", "hide-cell"} <= set(meta.get("tags", [])): out.append(f"cell {i + 1}: solution {n} lacks the tags solution, hide-cell")
            if not meta.get("jupyter", {}).get("source_hidden"): out.append(f"cell {i + 1}: solution {n} is not folded (jupyter.source_hidden)")
        elif c["cell_type"] == "code" and "solution" in c.get("metadata", {}).get("tags", []) and \
                not "".join(cells[i - 1]["source"]).startswith("**Exercise"):
            out.append(f"cell {i}: a solution that follows no exercise")
    if n < MIN_EXERCISES: out.append(f"{n} exercises, fewer than {MIN_EXERCISES}")
    return out


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_every_lesson_has_exercises_with_folded_solutions(lesson):
    assert not exercise_problems(lesson), f"{lesson.name}: " + "; ".join(exercise_problems(lesson))


def test_the_exercise_check_finds_problems(tmp_path):
    md = lambda s: {"cell_type": "markdown", "metadata": {}, "source": [s]}
    code = lambda s, **m: {"cell_type": "code", "metadata": m, "source": [s], "outputs": [], "execution_count": None}
    good = {"tags": ["solution", "hide-cell"], "jupyter": {"source_hidden": True}}
    cells = [md("**Exercise 1.** a"), code("# Solution to exercise 1\nx = 1", **good),
             md("**Exercise 2.** b"), code("# Solution to exercise 2\nx = 2", tags=["solution", "hide-cell"])]
    p = tmp_path / "99_lesson_x.ipynb"
    p.write_text(json.dumps({"cells": cells}))
    assert exercise_problems(p) == ["cell 3: solution 2 is not folded (jupyter.source_hidden)"]
    p.write_text(json.dumps({"cells": cells[:2] + [md("**Exercise 3.** c"), code("x = 3")]}))
    assert exercise_problems(p) == ["cell 2: exercise 2 is not numbered '**Exercise 2.**'",
                                    "cell 2: exercise 2 is not followed by a code cell '# Solution to exercise 2'"]


def test_the_index_lists_every_chapter():
    "The book's index (nbs/index.ipynb) has a row for every chapter and lesson, and none for a notebook that is gone."
    text = "".join("".join(c["source"]) for c in json.loads((ROOT / "nbs" / "index.ipynb").read_text())["cells"])
    listed = set(re.findall(r"^\| `nbs/(\d\w*[\w.-]*\.ipynb)`", text, re.M))
    chapters = {p.name for p in (ROOT / "nbs").glob("[0-9]*.ipynb")}
    assert chapters - listed == set(), "not in the index's table"
    assert listed - chapters == set(), "in the index's table but not in nbs/"
    runs = {p.name for p in (ROOT / "nbs" / "runs").glob("*.ipynb")}
    assert runs - set(re.findall(r"^\| `nbs/runs/([\w.-]+\.ipynb)`", text, re.M)) == set(), "run notebooks not in the index's table"


def test_stored_results_are_read_from_folders_that_exist():
    "A notebook that shows stored results names a folder of nbs/results/ that exists (a renamed chapter once left three reading nothing)."
    missing = []
    for nb in sorted((ROOT / "nbs").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in nb.parts: continue
        code = "".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
        for name in re.findall(r'"results"\s*/\s*"([^"]+)"', code):
            if not (ROOT / "nbs" / "results" / name).is_dir(): missing.append(f"{nb.relative_to(ROOT)}: nbs/results/{name}")
    assert missing == []
