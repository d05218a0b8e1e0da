"""Loaded by Python at start-up when tests/figcheck is on PYTHONPATH (tests/test_notebooks.py puts it there for each
notebook's process): every figure Jupyter's inline backend draws (a cell's open figures at its end, `plt.show()`,
`maps.show`) is first checked with `carbonflux_nb.maps.unlabelled_axes`, and what a reader would miss is appended to
the file named by FIGURE_REPORT, which the test reads."""
import os

REPORT = os.environ.get("FIGURE_REPORT")


def _install():
    from matplotlib_inline import backend_inline
    show = backend_inline.show

    def checked_show(*args, **kwargs):
        from matplotlib._pylab_helpers import Gcf
        from carbonflux_nb.maps import unlabelled_axes
        from IPython import get_ipython
        try: cell = "the cell '" + get_ipython().history_manager.input_hist_raw[-1].strip().splitlines()[0][:60] + "...'"
        except Exception: cell = "a cell"
        lines = []
        for m in Gcf.get_all_fig_managers():
            try: lines += [f"{cell}, figure {m.num}: {p}" for p in unlabelled_axes(m.canvas.figure)]
            except Exception as e: lines.append(f"{cell}, figure {m.num}: could not be checked ({type(e).__name__}: {e})")
        if lines:
            with open(REPORT, "a") as f: f.writelines(l + "\n" for l in lines)
        return show(*args, **kwargs)

    # the inline backend keeps its state on `show`, looked up by name (its flush_figures calls show(True)): ours has it
    checked_show._to_draw, checked_show._draw_called = show._to_draw, getattr(show, "_draw_called", False)
    backend_inline.show = checked_show


if REPORT:
    try: _install()
    except ImportError: pass
