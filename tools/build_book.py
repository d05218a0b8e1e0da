"""`make book`: the offline HTML book of carbonflux_nb in _book/ (Sphinx + myst-nb + sphinx-book-theme).

    python tools/build_book.py [--jobs 2] [--demo-dir out/demo] [--retry-failed] [--no-execute] [--out _book]

1. Every chapter (nbs/NN_*.ipynb, and nbs/index.ipynb when it exists) is executed as `nbdev-test` runs it: a fresh
   kernel, working directory nbs/, IN_TEST=1, cells flagged with settings' tst_flags (`#| slow`, `#| notest`) or
   `#| eval: false` left unexecuted (shown as code without output). Two notebooks at a time (--jobs). The executed
   copy is cached in .book_cache/exec/ under the notebook's content hash and the package source hash, so a second
   build executes only what changed. A failing notebook is kept with its outputs up to the error (shown in the
   book, with a warning at its top) and listed at the end; it does not stop the build (cached too: --retry-failed).
2. The demo's executed run notebooks (`make demo` / `carbonflux demo`: <out_dir>/demo/<name>-defaults/<name>.ipynb)
   are the "Runs" part when present; otherwise that part is a page saying to run `make demo` first.
3. The executed copies are staged in .book_cache/src/ for the book: nbdev's `#|` directive lines are removed,
   `#| hide` cells dropped (as nbdev's docs do), `#| echo: false` cells keep only their output; paper paths become
   DOI citations; an API reference (one page per module, from the docments) and book/references.md are added.
4. Sphinx renders the staged tree into _book/ with MathJax from carbonflux_nb/data/mathjax; the built HTML is then
   scanned: a script, stylesheet, image, font or frame loaded from off the machine fails the build.
"""
import argparse, hashlib, html.parser, inspect, json, os, re, shutil, subprocess, sys, time, traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NBS = ROOT / "nbs"
PKG = ROOT / "carbonflux_nb"
MATHJAX = PKG / "data" / "mathjax"
CACHE = ROOT / ".book_cache"
BUILDER_VERSION = "1"   # bump to invalidate every cached execution

# the parts of the book: (caption, first, last notebook number)
PARTS = [("Foundation", 0, 8), ("Twin world and eddy covariance", 9, 19), ("AutoML-GPP", 20, 29),
         ("FluxFormer", 30, 39), ("SIF", 40, 49), ("Atmosphere", 50, 59), ("Inversion", 60, 79), ("Workshop", 90, 99)]

# the papers, cited by DOI in the book (the chapters name the plain-text copies in ../shared/papers/)
PAPERS = {"000": ("AutoML-GPP", "10.3390/rs18010130", "ref-automl-gpp"),
          "001": ("FluxFormer", None, "ref-fluxformer"),
          "002": ("SIF-EC", "10.5194/egusphere-egu26-21697", "ref-sif-ec"),
          "003": ("MEGA", "10.3390/rs17223720", "ref-mega"),
          "004": ("MCAS", "10.1038/s41612-024-00824-w", "ref-mcas")}
PAPER_RE = re.compile(r"(?:\.\./)*(?:shared/)?papers/(00[0-4])(?!\d)(?:_(?:[0-9a-f]{16}|\.\.\.))?(?:\.txt)?")


# ---------------------------------------------------------------- chapters, hashes
def chapter_number(p: Path):
    m = re.match(r"(\d+)", p.name)
    return int(m.group(1)) if m else None


def chapters(nbs=NBS) -> list:
    "The numbered chapters, in order of their number (then name)."
    return sorted((p for p in Path(nbs).glob("*.ipynb") if chapter_number(p) is not None),
                  key=lambda p: (chapter_number(p), p.name))


def part_of(p: Path) -> str:
    n = chapter_number(p)
    return next((c for c, a, b in PARTS if n is not None and a <= n <= b), "Other chapters")


def package_hash(pkg=PKG) -> str:
    "Hash of the package's Python sources and settings.ini: a change re-executes every notebook."
    h = hashlib.sha256(BUILDER_VERSION.encode())
    for f in sorted(Path(pkg).rglob("*.py")):
        if "__pycache__" not in f.parts: h.update(f.relative_to(pkg).as_posix().encode()); h.update(f.read_bytes())
    settings = Path(pkg).parent / "settings.ini"
    if settings.exists(): h.update(settings.read_bytes())
    return h.hexdigest()


def cache_key(nb: Path, pkg_hash: str) -> str:
    return hashlib.sha256(Path(nb).read_bytes() + pkg_hash.encode()).hexdigest()[:20]


def tst_flags() -> list:
    try:
        import tomllib
        return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["nbdev"]["tst_flags"].split()
    except (OSError, KeyError):
        return ["notest", "slow"]


# ---------------------------------------------------------------- directives
DIRECTIVE = re.compile(r"^\s*#\s?\|\s*([\w-]+)\s*:?\s*(.*?)\s*$")


def directives(source: str) -> dict:
    "nbdev's `#|` directives at the top of a cell's source: {name: value}."
    out = {}
    for line in source.splitlines():
        if not line.strip(): continue
        m = DIRECTIVE.match(line)
        if not m: break
        out[m.group(1).lower()] = m.group(2)
    return out


def strip_directives(source: str) -> str:
    "The source without its `#|` directive lines."
    return "\n".join(l for l in source.splitlines() if not DIRECTIVE.match(l)).strip("\n")


def skipped(cell, flags) -> bool:
    "Whether `nbdev-test` leaves this code cell out: a tst_flag directive, or `#| eval: false`."
    d = directives(cell.source)
    return bool(set(flags) & d.keys()) or d.get("eval", "").lower() in ("false", "0", "no")


# ---------------------------------------------------------------- execution
def execute_notebook(src, dest, cwd, flags, timeout=900) -> dict:
    "Execute `src` in a fresh kernel as nbdev-test does, write the executed copy to `dest`; returns a status record."
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    os.environ["IN_TEST"] = "1"
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"): os.environ.setdefault(v, "1")
    # h2o's JVMs with the quick JIT only, as in the tests (tests/conftest.py): the same models for half the CPU time
    os.environ.setdefault("CARBONFLUX_H2O_JVM_ARGS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    from carbonflux_nb.workflows import noninteractive_env, tidy_outputs
    os.environ.update(noninteractive_env())       # progress bars redraw rarely; no "IProgress not found" warning
    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    t0, error = time.time(), None
    try:
        # the kernel's own stderr is only ipykernel's transport notice; cell outputs and errors come over its channels
        with client.setup_kernel(cwd=str(cwd), stderr=subprocess.DEVNULL):
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code" or skipped(cell, flags): continue
                try: client.execute_cell(cell, i)
                except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
                    error = f"cell {i} ({cell.get('id', '?')}): {str(e).strip()[-3000:]}"
                    break
    except Exception as e:   # the kernel did not start, or died between cells
        error = f"{type(e).__name__}: {e}\n{traceback.format_exc()[-2000:]}"
    tidy_outputs(nb)    # one final line per progress bar, carriage returns applied (as `carbonflux run` does)
    strip_widgets(nb)
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(dest) + ".tmp")
    nbformat.write(nb, tmp); tmp.replace(dest)
    rec = {"notebook": str(src), "ok": error is None, "error": error, "seconds": round(time.time() - t0, 1)}
    Path(str(dest)[:-len(".ipynb")] + ".json").write_text(json.dumps(rec, indent=1))
    return rec


def strip_widgets(nb):
    "Drop ipywidget views (tqdm bars): they need a widget manager from a CDN; the text/plain fallback stays."
    for c in nb.cells:
        for o in c.get("outputs", []):
            data = o.get("data")
            if data and "application/vnd.jupyter.widget-view+json" in data:
                data.pop("application/vnd.jupyter.widget-view+json")
                data.setdefault("text/plain", "")
    nb.metadata.pop("widgets", None)


def execute_all(nbs, cache=CACHE, jobs=2, retry_failed=False, log=print) -> dict:
    "Execute the notebooks (cached); returns {notebook: (executed path, record)}."
    pkg_hash, flags = package_hash(), tst_flags()
    todo, out = [], {}
    for nb in nbs:
        dest = Path(cache) / "exec" / f"{nb.stem}-{cache_key(nb, pkg_hash)}.ipynb"
        meta = Path(str(dest)[:-len(".ipynb")] + ".json")
        if dest.exists() and meta.exists():
            rec = json.loads(meta.read_text())
            if rec["ok"] or not retry_failed:
                out[nb] = (dest, {**rec, "cached": True}); continue
        todo.append((nb, dest))
    log(f"book: {len(nbs) - len(todo)} notebooks cached, {len(todo)} to execute ({jobs} at a time)")
    if todo:
        import multiprocessing as mp
        t0 = time.time()
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as ex:
            futs = {ex.submit(execute_notebook, nb, dest, nb.parent, flags): (nb, dest) for nb, dest in todo}
            for f in as_completed(futs):
                nb, dest = futs[f]
                try: rec = f.result()
                except Exception as e: rec = {"notebook": str(nb), "ok": False, "error": repr(e), "seconds": None}
                out[nb] = (dest, rec)
                log(f"  {'ok    ' if rec['ok'] else 'FAILED'} {nb.relative_to(ROOT) if nb.is_relative_to(ROOT) else nb}"
                    f" ({rec['seconds']} s; {time.time() - t0:.0f} s elapsed)")
    return out


# ---------------------------------------------------------------- staging
def cite_papers(text: str) -> str:
    "Replace paths of the papers' plain-text copies by citations: a DOI link and the references page."
    def sub(m):
        name, doi, label = PAPERS[m.group(1)]
        ref = f"{{ref}}`{name} <{label}>`"
        return f"{ref}, doi:[{doi}](https://doi.org/{doi})" if doi else f"{ref} (preprint)"
    return PAPER_RE.sub(sub, text)


def book_notebook(nb, failed=None):
    "The book's view of an executed notebook (in place): directives hidden, hidden cells dropped, papers cited."
    import nbformat
    cells = []
    for c in nb.cells:
        if c.cell_type == "markdown":
            c.source = cite_papers(c.source)
        elif c.cell_type == "code":
            d = directives(c.source)
            if "hide" in d or "include" in d and d["include"].lower() == "false": continue
            c.source = strip_directives(c.source)
            tags = c.metadata.setdefault("tags", [])
            if d.get("echo", "").lower() == "false": tags.append("remove-input")
            if d.get("output", "").lower() == "false": tags.append("remove-output")
            if not c.source.strip() and not c.get("outputs"): continue
        elif c.cell_type == "raw":
            continue
        cells.append(c)
    if failed:
        i = next((k + 1 for k, c in enumerate(cells) if c.cell_type == "markdown" and c.source.lstrip().startswith("# ")), 0)
        msg = failed.strip().splitlines()
        cells.insert(i, nbformat.v4.new_markdown_cell(
            "```{warning}\nThis notebook failed when the book was built; its outputs stop at the error, shown below.\n```\n\n"
            "```text\n" + "\n".join(msg[-12:]).replace("```", "'''") + "\n```"))
    nb.cells = cells
    return nb


def write_if_changed(path: Path, text: str):
    "Write only a changed file, so that Sphinx re-reads only what changed."
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text: path.write_text(text)


def stage_notebook(executed, dest, failed=None):
    import nbformat
    nb = book_notebook(nbformat.read(executed, as_version=4), failed)
    write_if_changed(Path(dest), nbformat.writes(nb))


def title_of(nb_path) -> str:
    "A notebook's first `# heading`, else its name."
    import nbformat
    for c in nbformat.read(nb_path, as_version=4).cells:
        if c.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", c.source, re.M)
            if m: return m.group(1).strip()
    return Path(nb_path).stem


def toctrees(parts: list) -> str:
    "Hidden toctrees, one per part (captions group the sidebar)."
    out = []
    for caption, docs in parts:
        if docs: out.append(f"```{{toctree}}\n:hidden:\n:caption: {caption}\n:maxdepth: 1\n\n" + "\n".join(docs) + "\n```\n")
    return "\n".join(out)


def index_page(src: Path, parts: list, index_nb=None):
    "The root page: the (executed) nbs/index.ipynb with the toctrees appended, else a generated table of chapters."
    import nbformat
    if index_nb and Path(index_nb).exists():
        nb = book_notebook(nbformat.read(index_nb, as_version=4))
        nb.cells.append(nbformat.v4.new_markdown_cell(toctrees(parts)))
        write_if_changed(src / "index.ipynb", nbformat.writes(nb))
        (src / "index.md").unlink(missing_ok=True)
        return
    lines = ["# carbonflux_nb", "", "A literate, tested book of published carbon-flux methods. "
             "(Temporary index: nbs/index.ipynb replaces this page when it exists.)", ""]
    for caption, docs in parts:
        if not docs: continue
        lines += [f"## {caption}", ""] + [f"- {{doc}}`{d}`" for d in docs] + [""]
    write_if_changed(src / "index.md", "\n".join(lines) + "\n" + toctrees(parts))
    (src / "index.ipynb").unlink(missing_ok=True)


# ---------------------------------------------------------------- API reference
def _cell(v) -> str:
    return " ".join(str(v).split()).replace("|", "\\|")


def _anno(a) -> str:
    if a is inspect.Parameter.empty or a is None or a is type(None): return ""
    return getattr(a, "__name__", None) or str(a).replace("typing.", "")


def _params_table(obj) -> str:
    from fastcore.docments import docments
    try: docs = docments(obj, full=True)
    except Exception: return ""
    rows = []
    for name, d in docs.items():
        if name in ("self", "cls"): continue
        dflt = d.get("default", inspect.Parameter.empty)
        dflt = "" if dflt is inspect.Parameter.empty else f"`{_cell(repr(dflt))}`"
        anno = _anno(d.get("anno", inspect.Parameter.empty))
        if name == "return" and not (anno or d.get("docment")): continue
        rows.append(f"| {'**returns**' if name == 'return' else f'`{name}`'} | {f'`{_cell(anno)}`' if anno else ''} "
                    f"| {dflt} | {_cell(d.get('docment') or '')} |")
    if not rows: return ""
    return "| Parameter | Type | Default | Description |\n|---|---|---|---|\n" + "\n".join(rows) + "\n"


def _signature(name, obj) -> str:
    try: sig = str(inspect.signature(obj))
    except (TypeError, ValueError): sig = "(...)"
    return f"```python\n{'class' if inspect.isclass(obj) else 'def'} {name}{sig}\n```\n"


def _source_notebook(mod):
    try: text = Path(inspect.getfile(mod)).read_text()
    except (TypeError, OSError): return None
    m = re.search(r"File to edit: \.\./nbs/(\S+)\.ipynb", text)
    return m.group(1) if m else None


def api_page(modname: str) -> str:
    "A MyST page for one module: its public functions and classes with signature, docstring and parameter table."
    import importlib
    mod = importlib.import_module(modname)
    names = getattr(mod, "__all__", None) or [n for n, o in vars(mod).items()
                                              if not n.startswith("_") and getattr(o, "__module__", None) == modname]
    out = [f"# `{modname}`", ""]
    if mod.__doc__: out += [inspect.cleandoc(mod.__doc__), ""]
    nbname = _source_notebook(mod)
    if nbname: out += [f"Source: the chapter {{doc}}`../{nbname}`.", ""]
    for n in names:
        obj = getattr(mod, n, None)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)) or getattr(obj, "__module__", modname) != modname: continue
        out += [f"## `{n}`", "", _signature(n, obj)]
        if obj.__doc__ and not (inspect.isclass(obj) and obj.__doc__.startswith(n + "(")):
            out += [inspect.cleandoc(obj.__doc__), ""]
        out += [_params_table(obj), ""]
        if inspect.isclass(obj):
            for mn, m in vars(obj).items():
                if mn.startswith("_") or not inspect.isfunction(m): continue
                out += [f"### `{n}.{mn}`", "", _signature(mn, m)]
                if m.__doc__: out += [inspect.cleandoc(m.__doc__), ""]
                out += [_params_table(m), ""]
    return "\n".join(out).rstrip() + "\n"


def package_modules(pkg=PKG) -> list:
    "carbonflux_nb's public modules (from the exported files), in name order."
    mods = []
    for f in sorted(Path(pkg).rglob("*.py")):
        rel = f.relative_to(pkg.parent).with_suffix("")
        if any(p.startswith("_") for p in rel.parts) or "__pycache__" in f.parts: continue
        mods.append(".".join(rel.parts))
    return mods


def write_api(src: Path, modules: list, log=print) -> list:
    "Write api/<module>.md for each module (a module that fails to import gets a page saying so); returns the docnames."
    docs = []
    for m in modules:
        try: text = api_page(m)
        except Exception as e:
            log(f"  API: {m} not documented: {type(e).__name__}: {e}")
            text = f"# `{m}`\n\nThis module could not be imported when the book was built: `{type(e).__name__}: {e}`\n"
        write_if_changed(src / "api" / f"{m}.md", text)
        docs.append(f"api/{m}")
    return docs


# ---------------------------------------------------------------- Sphinx and the offline check
def stage_static(src: Path):
    "MathJax into the build's _static/mathjax (only when changed)."
    dest = src / "_static" / "mathjax"
    for f in MATHJAX.rglob("*"):
        if f.is_file():
            d = dest / f.relative_to(MATHJAX)
            if not d.exists() or d.stat().st_size != f.stat().st_size:
                d.parent.mkdir(parents=True, exist_ok=True); shutil.copy2(f, d)


def sphinx_build(src: Path, out: Path, doctrees: Path, quiet=True) -> int:
    "Render `src` into `out` with book/conf.py; returns the number of warnings."
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace
    import io
    warn = io.StringIO()
    with docutils_namespace():
        app = Sphinx(str(src), str(BOOK), str(out), str(doctrees), "html", status=None if quiet else sys.stdout,
                     warning=warn, freshenv=False, confoverrides={
                         "html_static_path": [str(BOOK / "_static"), str(src / "_static")]})
        app.build()
    w = warn.getvalue().strip()
    (Path(doctrees).parent / "sphinx-warnings.txt").write_text(w + "\n")
    if w and not quiet: print(w[-4000:])
    return len([l for l in w.splitlines() if "WARNING" in l])


EXTERNAL = re.compile(r"^\s*(?:https?:)?//", re.I)
CDN_IN_JS = re.compile(r"""["'`]\s*(?:https?:)?//[^"'`\s]+""", re.I)
LOADS = {"script": ["src"], "link": ["href"], "img": ["src", "srcset"], "iframe": ["src"], "source": ["src", "srcset"],
         "video": ["src", "poster"], "audio": ["src"], "embed": ["src"], "object": ["data"], "track": ["src"],
         "image": ["href", "xlink:href"], "use": ["href", "xlink:href"]}


class _Scan(html.parser.HTMLParser):
    "Collects what a page would load from off the machine: tags that load a URL, inline scripts and styles naming one."
    def __init__(self):
        super().__init__(); self.found, self._in = [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link" and (a.get("rel") or "").lower() in ("canonical", "alternate", "author", "license", "help"): return
        for k in LOADS.get(tag, []):
            v = a.get(k) or ""
            if any(EXTERNAL.match(u.strip().split(" ")[0]) for u in v.split(",") if u.strip()): self.found.append(f"<{tag} {k}={v}>")
        if "style" in a and re.search(r"url\(\s*['\"]?(?:https?:)?//", a["style"], re.I): self.found.append(f"<{tag} style={a['style'][:80]}>")
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag): self._in = None

    def handle_data(self, data):
        if self._in == "script":
            self.found += [f"inline script: {m.group(0)[:100]}" for m in CDN_IN_JS.finditer(data) if not _harmless_url(m.group(0))]
        elif self._in == "style":
            self.found += [f"inline style: {u[:100]}" for u in re.findall(r"url\(\s*['\"]?(?:https?:)?//[^)]*\)", data, re.I)]
            self.found += [f"inline style: {u[:100]}" for u in re.findall(r"@import\s+['\"]?(?:https?:)?//[^;]*", data, re.I)]


def _harmless_url(u: str) -> bool:
    "XML namespace names in scripts (SVG, MathML) are identifiers, not requests."
    return bool(re.search(r"//www\.w3\.org/", u))


def external_refs(html_dir) -> dict:
    "{page: [what it would load from off the machine]} over the built HTML (empty: nothing leaves the machine)."
    bad = {}
    for f in sorted(Path(html_dir).rglob("*.html")):
        if "_check" in f.parts: continue
        s = _Scan(); s.feed(f.read_text(errors="replace"))
        if s.found: bad[str(f.relative_to(html_dir))] = s.found
    for f in sorted(Path(html_dir).rglob("*.css")):
        urls = re.findall(r"url\(\s*['\"]?(?:https?:)?//[^)]*\)|@import\s+['\"]?(?:https?:)?//[^;]*", f.read_text(errors="replace"), re.I)
        if urls: bad[str(f.relative_to(html_dir))] = urls
    return bad


# ---------------------------------------------------------------- the build
def demo_notebooks(demo_dir) -> list:
    "The demo's executed run notebooks: <demo_dir>/<run-id>/<name>.ipynb, in name order."
    d = Path(demo_dir)
    if not d.is_dir(): return []
    return sorted(p for p in d.glob("*-defaults/*.ipynb") if p.stem == p.parent.name[:-len("-defaults")])


def build(out=ROOT / "_book", cache=CACHE, jobs=2, demo_dir=None, retry_failed=False, execute=True, nbs=None,
          modules=None, index_nb=NBS / "index.ipynb", log=print) -> dict:
    "Build the book; returns {'failed': [...], 'external': {...}, 'warnings': n, 'seconds': s}."
    t0 = time.time()
    out, cache = Path(out), Path(cache)
    src = cache / "src"
    nbs = chapters() if nbs is None else list(nbs)
    to_run = nbs + ([Path(index_nb)] if index_nb and Path(index_nb).exists() else [])
    if execute:
        executed = execute_all(to_run, cache, jobs, retry_failed, log)
    else:
        executed = {nb: (nb, {"ok": True, "error": None}) for nb in to_run}
    failed = [(nb, rec["error"]) for nb, (_, rec) in executed.items() if not rec["ok"]]
    parts, staged = {}, set()
    for nb in nbs:
        path, rec = executed[nb]
        stage_notebook(path, src / nb.name, None if rec["ok"] else rec["error"])
        parts.setdefault(part_of(nb), []).append(nb.stem); staged.add(nb.name)
    grouped = [(c, parts.get(c, [])) for c, _, _ in PARTS] + [("Other chapters", parts.get("Other chapters", []))]
    runs = demo_notebooks(demo_dir) if demo_dir else []
    run_docs = []
    for r in runs:
        stage_notebook(r, src / "runs" / r.name); run_docs.append(f"runs/{r.stem}"); staged.add(f"runs/{r.name}")
    if demo_dir is not None and not runs:
        write_if_changed(src / "runs" / "index.md", "# Run notebooks\n\nThe demo's executed run notebooks were not found "
                         f"(looked in `{Path(demo_dir).name}/`): run `make demo` (or `carbonflux demo`), then `make book`.\n")
        run_docs.append("runs/index")
    grouped.append(("Runs (the demo, executed)", run_docs))
    modules = package_modules() if modules is None else modules
    grouped.append(("API reference", write_api(src, modules, log)))
    write_if_changed(src / "references.md", (BOOK / "references.md").read_text())
    grouped.append(("References", ["references"]))
    index_page(src, grouped, executed[Path(index_nb)][0] if index_nb and Path(index_nb) in executed else None)
    # drop staged pages no longer in the book
    keep = staged | {"index.ipynb", "index.md", "references.md"} | {f"{d}.md" for d in grouped[-2][1] + run_docs}
    for f in list(src.rglob("*.ipynb")) + list(src.glob("runs/*.md")) + list(src.glob("api/*.md")):
        if f.relative_to(src).as_posix() not in keep: f.unlink()
    stage_static(src)
    log(f"book: rendering {len(nbs)} chapters, {len(run_docs)} run pages, {len(modules)} API pages with Sphinx")
    warnings = sphinx_build(src, out, cache / "doctrees")
    bad = external_refs(out)
    return {"failed": failed, "external": bad, "warnings": warnings, "seconds": round(time.time() - t0, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "_book"))
    ap.add_argument("--cache", default=str(CACHE))
    ap.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (default 2)")
    ap.add_argument("--demo-dir", default=None, help="the demo's run folders (default: <out_dir>/demo from settings.ini)")
    ap.add_argument("--retry-failed", action="store_true", help="execute again notebooks whose cached run failed")
    ap.add_argument("--no-execute", action="store_true", help="render the notebooks as they are (no outputs)")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))   # this checkout's package (the API pages import it)
    demo = a.demo_dir
    if demo is None:
        from carbonflux_nb.config import get_settings
        demo = Path(get_settings().out_dir) / "demo"
    r = build(a.out, a.cache, a.jobs, demo, a.retry_failed, not a.no_execute)
    print(f"book: {a.out}/index.html in {r['seconds']} s ({r['warnings']} Sphinx warnings: {Path(a.cache) / 'sphinx-warnings.txt'})")
    if r["failed"]:
        print(f"book: {len(r['failed'])} notebook(s) failed (shown in the book with their error):")
        for nb, err in r["failed"]: print(f"  {Path(nb).name}: {(err or '').strip().splitlines()[-1][:200] if err else ''}")
    if r["external"]:
        print("book: pages that would load something from off the machine:")
        for page, refs in r["external"].items(): print(f"  {page}: {refs[:3]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
