"""Lint fixes carried back into the notebooks: `ruff check --fix` on the exported package, then every changed cell
written back into its source notebook (relative imports turned back into `carbonflux_nb.` ones), then re-exported.

The package is generated from the notebooks, so ruff's fixes (sorted imports, unused imports removed) must land in
the notebooks; nbdev's own `nbdev-update` does not turn multi-line relative imports back. Run it as `make lint-fix`,
then `make lint`: an import that only a notebook's test cells used is gone from the export, and the lint of the
notebooks (undefined names) says which test cell now needs its own import."""
import json, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "carbonflux_nb"
BIN = Path(sys.executable).parent
MARK = re.compile(r"^# %% (?P<nb>\S+\.ipynb) #(?P<id>\w+)\s*$")


def cells_of(py: Path) -> dict:
    "(notebook path, cell id) -> the cell's exported code, from one exported module."
    out, key, buf = {}, None, []
    for line in py.read_text().splitlines():
        m = MARK.match(line) if line.startswith("# %%") else None
        if line.startswith("# %%"):
            if key: out[key] = "\n".join(buf).strip("\n")
            key = ((py.parent / m["nb"]).resolve(), m["id"]) if m else None
            buf = []
        elif key: buf.append(line)
    if key: out[key] = "\n".join(buf).strip("\n")
    return out


def absolute(code: str, module: str) -> str:
    "Relative imports of `module`'s exported code as `carbonflux_nb.` imports (what the notebooks write)."
    pkg = module.split(".")[:-1]                  # the module's package, e.g. ['carbonflux_nb', 'ec']
    def repl(m):
        indent, dots, name = m[1], m[2], m[3]
        base = pkg[:len(pkg) - (len(dots) - 1)]
        return f"{indent}from {'.'.join(base + ([name] if name else []))} import"
    return re.sub(r"^([ \t]*)from (\.+)([\w.]*) import", repl, code, flags=re.M)


def main(paths=None) -> int:
    "Fix the modules in `paths` (default: the whole package)."
    mods = [Path(p).resolve() for p in paths] if paths else sorted(
        p for p in PKG.rglob("*.py") if p.name != "_modidx.py" and "__pycache__" not in p.parts)
    before = {p: cells_of(p) for p in mods}
    subprocess.run([str(BIN / "ruff"), "check", "--fix", "--quiet", *map(str, mods)], cwd=ROOT)
    changed = {}
    for p in mods:
        module = ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for key, code in cells_of(p).items():
            if before[p].get(key) != code: changed[key] = absolute(code, module)
    by_nb = {}
    for (nb, cid), code in changed.items(): by_nb.setdefault(nb, {})[cid] = code
    for nb, codes in by_nb.items():
        d = json.loads(nb.read_text())
        for c in d["cells"]:
            if c.get("id") in codes:
                lines = "".join(c["source"]).splitlines()
                head = []
                for l in lines:
                    if l.startswith("#|"): head.append(l)
                    else: break
                c["source"] = "\n".join(head + [codes[c["id"]]]).splitlines(keepends=True)
        nb.write_text(json.dumps(d, indent=1, ensure_ascii=False) + "\n")
        print(f"{nb.relative_to(ROOT)}: {len(codes)} cell(s) updated")
    subprocess.run([str(BIN / "nbdev-export")], cwd=ROOT, check=True)
    subprocess.run([str(BIN / "nbdev-clean")], cwd=ROOT, check=True)
    return subprocess.run([str(BIN / "ruff"), "check", *map(str, mods)], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
