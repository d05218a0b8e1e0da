"""Sphinx configuration of the offline book (`make book`; tools/build_book.py stages the sources and calls Sphinx).

Everything the pages load is local: MathJax is the copy shipped in carbonflux_nb/data/mathjax (staged into the
build's _static/mathjax), the theme's fonts and icons are bundled with pydata-sphinx-theme, and no launch, repository
or download button points off the machine."""

project = "carbonflux_nb"
author = "carbonflux_nb developers"
copyright = "carbonflux_nb developers, Apache-2.0"
html_title = "carbonflux_nb: the book"

extensions = ["myst_nb"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
# the notebooks are executed by tools/build_book.py (cached, two at a time); Sphinx only renders them
nb_execution_mode = "off"
nb_merge_streams = True
# no require.js or widget manager from a CDN (widgets are stripped from the outputs; their text/plain stays)
nb_ipywidgets_js = {}
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header", "myst.xref_missing", "toc.not_included",
                     "misc.highlighting_failure", "mystnb.nbcell"]

exclude_patterns = ["_static", "**/.ipynb_checkpoints"]
templates_path = []

# MathJax 3 from the build's own _static (copied from carbonflux_nb/data/mathjax); its fonts and menu load from
# beside it ([mathjax]/output/chtml/fonts/woff-v2, [mathjax]/ui/menu.js)
mathjax_path = "mathjax/tex-chtml-full.js"
mathjax3_config = {"loader": {"load": []}, "options": {"enableMenu": True}}

html_theme = "sphinx_book_theme"
html_static_path = ["_static"]
html_css_files = ["book.css"]
html_copy_source = False
html_show_sourcelink = False
html_last_updated_fmt = None
html_theme_options = {
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "use_issues_button": False,
    "use_edit_page_button": False,
    "launch_buttons": {},
    "navigation_with_keys": False,
    "home_page_in_toc": True,
    "icon_links": [],
    "analytics": {},
}


def _outputs_beside_the_doctrees(app):
    "myst-nb writes output files to <outdir>/../jupyter_execute (the project root): move them into the build cache."
    from pathlib import Path
    folder = Path(app.doctreedir).parent / "jupyter_execute"
    app.env.mystnb_config = app.env.mystnb_config.copy(output_folder=str(folder.resolve()))


def setup(app):
    app.connect("builder-inited", _outputs_beside_the_doctrees, priority=900)   # after myst-nb's own (priority 500)
