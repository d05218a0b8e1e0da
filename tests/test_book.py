"""The offline book (tools/build_book.py): a mini book of two tiny notebooks and one API page, rendered with the
book's Sphinx configuration, nothing heavy executed. Maths is left for the local MathJax, nothing loads from off the
machine, nbdev's directives are hidden, the API page carries the docments; the executor skips what nbdev-test skips
and keeps a failing notebook's error. (`make book-check` checks the full book in a real browser.)"""
import importlib.util, inspect, re, sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_book", ROOT / "tools" / "build_book.py")
bb = importlib.util.module_from_spec(_spec); sys.modules["build_book"] = bb; _spec.loader.exec_module(bb)

# a 1x1 PNG, as a figure output
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def _nb(path, cells):
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    d = tmp_path_factory.mktemp("book")
    maths = new_code_cell("#| export\n#| echo: true\ndef double(x):\n    return 2 * x\nplt_figure = double(2)",
                          outputs=[new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})])
    nb1 = _nb(d / "01_maths.ipynb", [
        new_markdown_cell("# Light response\n\n> A tiny chapter\n\nThe rate $\\alpha R_g$ saturates:\n\n"
                          "$$GPP = \\frac{\\alpha \\beta R_g}{\\alpha R_g + \\beta}$$\n\n"
                          "**Paper:** ../shared/papers/003_8214a1920926ac0a.txt (MEGA), section 2."),
        maths,
        new_code_cell("#| hide\nsecret_test_cell = 42"),
        new_code_cell("#|eval: false\nprint('shown, never run')")])
    nb2 = _nb(d / "02_plain.ipynb", [new_markdown_cell("# Plain chapter\n\nNo maths here."),
                                     new_code_cell("1 + 1", outputs=[new_output("execute_result", data={"text/plain": "2"},
                                                                                  execution_count=1)])])
    # the book's front page (nbs/index.ipynb in the project): its table, then the sidebar's toctrees appended
    index = _nb(d / "index.ipynb", [new_markdown_cell("# carbonflux_nb\n\n| chapter | what |\n|---|---|\n"
                                                      "| [Light response](01_maths.ipynb) | maths |")])
    r = bb.build(out=d / "_book", cache=d / "cache", execute=False, nbs=[nb1, nb2], modules=["carbonflux_nb.metrics"],
                 index_nb=index, demo_dir=None, log=lambda *a: None)
    return d / "_book", r


def test_book_builds_every_page_in_order(book):
    out, r = book
    assert r["failed"] == [] and r["external"] == {}
    assert not (out.parent / "jupyter_execute").exists()   # myst-nb's output files go to the cache, not beside the book
    for page in ("index.html", "01_maths.html", "02_plain.html", "api/carbonflux_nb.metrics.html", "references.html",
                 "search.html", "searchindex.js"):
        assert (out / page).exists(), page
    index = (out / "index.html").read_text()
    captions = re.findall(r'caption-text">([^<]+)<', index)
    assert captions == ["Foundation", "API reference", "References"]
    assert index.index("01_maths.html") < index.index("02_plain.html")
    assert re.search(r'<a class="reference internal" href="01_maths.html">Light response</a>', index)   # the index's own table


def test_maths_wrapped_for_local_mathjax(book):
    out, _ = book
    page = (out / "01_maths.html").read_text()
    assert re.search(r'<span class="math notranslate nohighlight">\\\(\\alpha R_g\\\)</span>', page)
    assert re.search(r'<div class="math notranslate nohighlight">\s*\\\[GPP = \\frac', page)
    assert '<script defer="defer" src="_static/mathjax/tex-chtml-full.js' in page
    mj = out / "_static" / "mathjax"
    assert (mj / "tex-chtml-full.js").stat().st_size > 100_000
    assert (mj / "output" / "chtml" / "fonts" / "woff-v2" / "MathJax_Main-Regular.woff").exists()
    assert (mj / "ui" / "menu.js").exists()


def test_nothing_loads_from_off_the_machine(book):
    out, _ = book
    assert bb.external_refs(out) == {}
    pages = [p.read_text() for p in out.rglob("*.html")]
    # the papers are cited by DOI (a link, loaded only when followed), not by the path of their text copy
    maths = (out / "01_maths.html").read_text()
    assert 'href="https://doi.org/10.3390/rs17223720"' in maths and "shared/papers" not in maths
    for p in pages:
        for tag in re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", p):
            assert not re.search(r'(?:src|href)="(?:https?:)?//', tag), tag


@pytest.mark.parametrize("html,found", [
    ('<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>', True),
    ('<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Lato">', True),
    ('<img src="http://example.org/map.png">', True),
    ('<script>var s = document.createElement("script"); s.src = "https://unpkg.com/x.js";</script>', True),
    ('<style>@import url("https://fonts.googleapis.com/css2");</style>', True),
    ('<a href="https://doi.org/10.3390/rs18010130">doi</a><img src="_images/a.png"><script src="_static/x.js"></script>', False),
    ('<svg xmlns="http://www.w3.org/2000/svg"></svg><script>var ns = "http://www.w3.org/2000/svg";</script>', False),
])
def test_external_refs_finds_what_would_load(tmp_path, html, found):
    (tmp_path / "page.html").write_text(f"<html><body>{html}</body></html>")
    assert bool(bb.external_refs(tmp_path)) == found


def test_directives_hidden_export_shown(book):
    out, _ = book
    page = (out / "01_maths.html").read_text()
    assert "#|" not in page and "#| export" not in page
    assert "double" in page and "secret_test_cell" not in page   # export cell shown as code; `#| hide` cell dropped
    assert "shown, never run" in page                              # an `eval: false` cell is shown, not run
    assert re.search(r'<img[^>]+src="_images/[0-9a-f]+\.png"', page)   # the figure output, as a local image


def test_api_page_lists_functions_with_parameter_docs(book):
    from fastcore.docments import docments
    from carbonflux_nb import metrics
    out, _ = book
    page = (out / "api" / "carbonflux_nb.metrics.html").read_text()
    assert 'id="scores"' in page and "scores" in page
    docs = docments(metrics.scores, full=True)
    documented = {k: v["docment"] for k, v in docs.items() if v.get("docment") and k != "return"}
    assert documented, "metrics.scores documents its parameters with trailing comments"
    import html as h
    for name, text in documented.items():
        assert f"<code class=\"docutils literal notranslate\"><span class=\"pre\">{name}</span></code>" in page
        assert h.escape(text, quote=False).split()[0] in page
    md = bb.api_page("carbonflux_nb.metrics")
    assert str(inspect.signature(metrics.scores)) in md


@pytest.mark.parametrize("text,doi", [
    ("**Paper:** ../shared/papers/000_df12de91e2b34172.txt (AutoML-GPP)", "10.3390/rs18010130"),
    ("the AutoML-GPP paper (../shared/papers/000_..., section 2.2)", "10.3390/rs18010130"),
    ("**The paper** (MCAS; ../shared/papers/004): GEOS-Chem", "10.1038/s41612-024-00824-w"),
    ("see papers/001_79e0bb958c6f2b4d.txt", None),
])
def test_paper_paths_become_citations(text, doi):
    out = bb.cite_papers(text)
    assert "papers/" not in out and "{ref}`" in out
    assert (f"(https://doi.org/{doi})" in out) if doi else "(preprint)" in out


def test_directive_parsing():
    src = "#| export\n#|eval: false\n# |  slow\nx = 1  #| not a directive\n#| late"
    assert bb.directives(src) == {"export": "", "eval": "false", "slow": ""}
    assert bb.strip_directives(src) == "x = 1  #| not a directive"
    assert bb.skipped(nbformat.v4.new_code_cell("#| notest\nx"), ["notest", "slow"])
    assert not bb.skipped(nbformat.v4.new_code_cell("#| export\nx"), ["notest", "slow"])


def test_execution_skips_test_flags_and_keeps_the_error(tmp_path):
    src = _nb(tmp_path / "03_run.ipynb", [
        new_code_cell("import os\nprint(1 + 1, os.environ.get('IN_TEST'), os.path.basename(os.getcwd()))"),
        new_code_cell("#| slow\nprint('slow cell ran')"),
        new_code_cell("1 / 0"),
        new_code_cell("print('after the error')")])
    rec = bb.execute_notebook(src, tmp_path / "exec" / "03_run.ipynb", tmp_path, ["notest", "slow"], timeout=60)
    assert not rec["ok"] and "ZeroDivisionError" in rec["error"]
    nb = nbformat.read(tmp_path / "exec" / "03_run.ipynb", as_version=4)
    assert nb.cells[0].outputs[0]["text"].split() == ["2", "1", tmp_path.name]   # IN_TEST=1, run in the notebook's folder
    assert nb.cells[1].outputs == [] and nb.cells[3].outputs == []
    assert nb.cells[2].outputs[0]["ename"] == "ZeroDivisionError"
    staged = bb.book_notebook(nb, rec["error"])
    assert "failed when the book was built" in staged.cells[0].source + staged.cells[1].source
