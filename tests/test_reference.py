"""check_reference (chapter 06): the small stored references that let `make test` catch a regression in chapters 62 and 71."""
import json
import re

import numpy as np
import pytest

import carbonflux_nb
from carbonflux_nb.workflows import WRITE_REFERENCE_ENV, ReferenceMismatch, check_reference

SMALL = {"n_months": 2, "res": 2.0}
VALUES = {"domain": {"annual_posterior": -0.123456, "monthly_posterior": [-0.05, -0.073456]}, "dfs": 41.5, "chi2": 0.93,
          "background": "Reference", "converged": True, "coverage": float("nan")}


@pytest.fixture
def ref(tmp_path, monkeypatch):
    path = tmp_path / "small_reference.json"
    monkeypatch.setenv(WRITE_REFERENCE_ENV, "1")
    check_reference("toy", VALUES, path, rtol=1e-6, settings=SMALL, command="CARBONFLUX_WRITE_REFERENCE=1 make-it")
    monkeypatch.delenv(WRITE_REFERENCE_ENV)
    return path


def with_(item, value):
    v = json.loads(json.dumps(VALUES))
    d = v
    *head, last = item.split(".")
    for k in head: d = d[k]
    d[last] = value
    return v


def test_writes_under_flag(ref):
    r = json.loads(ref.read_text())
    assert r["settings"] == SMALL and r["command"].startswith("CARBONFLUX_WRITE_REFERENCE=1")
    assert r["package_version"] == carbonflux_nb.__version__ and r["written"][:2] == "20"
    assert r["values"]["domain.monthly_posterior"] == [-0.05, -0.073456] and r["values"]["coverage"] is None
    assert not list(ref.parent.glob(".*.tmp"))                                   # written atomically: no temporary left


@pytest.mark.parametrize("item, value", [("domain.annual_posterior", -0.123456 * (1 + 3e-7)), ("dfs", 41.5 + 1e-6), ("coverage", np.nan),
                                         ("domain.monthly_posterior", np.array([-0.05, -0.073456]) * (1 - 5e-7))])
def test_passes_within_tolerance(ref, item, value):
    check_reference("toy", with_(item, value), ref, rtol=1e-6, settings=SMALL)


@pytest.mark.parametrize("item, value, shown", [
    ("domain.annual_posterior", -0.1236, "domain.annual_posterior: stored -0.123456, now -0.1236 (relative difference 0.00117"),
    ("domain.monthly_posterior", [-0.05, -0.08], "domain.monthly_posterior: stored [-0.05, -0.073456], now [-0.05, -0.08] (relative difference 0.0891"),
    ("domain.monthly_posterior", [-0.05], "domain.monthly_posterior: stored [-0.05, -0.073456], now [-0.05] (relative difference inf"),
    ("coverage", 0.5, "coverage: stored None, now 0.5"),
    ("background", "Truth_BG", "background: stored Reference, now Truth_BG"),
    ("converged", False, "converged: stored True, now False")])
def test_fails_naming_the_item(ref, item, value, shown):
    with pytest.raises(ReferenceMismatch, match=r"toy: 1 of 7 items depart from the small reference .*small_reference.json") as e:
        check_reference("toy", with_(item, value), ref, rtol=1e-6, settings=SMALL, command="redo-it")
    assert shown in str(e.value) and "rewrite the reference; write it with: redo-it" in str(e.value)


def test_loose_prefix_and_missing_items(ref):
    near = with_("domain.annual_posterior", -0.1235)                                  # 3.6e-4 relative
    check_reference("toy", near, ref, rtol=1e-6, loose={"domain.": (1e-3, 0.0)}, settings=SMALL)
    with pytest.raises(ReferenceMismatch, match="domain.annual_posterior: stored"):
        check_reference("toy", near, ref, rtol=1e-6, loose={"domain.monthly": (1e-3, 0.0)}, settings=SMALL)
    fewer = {k: v for k, v in VALUES.items() if k != "dfs"} | {"rmse": 1.0}
    with pytest.raises(ReferenceMismatch, match="(?s)2 of 7 items.*dfs: missing now.*rmse: not in the reference"):
        check_reference("toy", fewer, ref, rtol=1e-6, settings=SMALL)


def test_other_settings_or_no_reference(ref, tmp_path):
    with pytest.raises(ReferenceMismatch, match=r"made with settings \{'n_months': 2, 'res': 2.0\}, this run has \{'n_months': 12"):
        check_reference("toy", VALUES, ref, settings={"n_months": 12, "res": 2.0})
    with pytest.raises(ReferenceMismatch, match=r"toy: no stored reference at .*absent.json; write it with: make-it"):
        check_reference("toy", VALUES, tmp_path / "absent.json", settings=SMALL, command="make-it")


def test_the_flag_is_not_a_setting(monkeypatch):
    from carbonflux_nb.config import load_settings
    monkeypatch.setenv(WRITE_REFERENCE_ENV, "1")
    assert load_settings().seed is not None                     # the settings reader does not take the flag for an unknown setting


@pytest.mark.parametrize("chapter, folder, size", [("62_inversion.mega", "62_mega", {"n_months": 2}), ("71_inversion.mcas", "71_mcas", {"n_weeks": 4})])
def test_stored_small_references(chapter, folder, size, tmp_path):
    "The chapters' small references are stored, made at the test size, by the command the chapter gives; one value moved by 1 % fails."
    from carbonflux_nb.workflows import project_root
    path = project_root() / "nbs" / "results" / folder / "small_reference.json"
    r = json.loads(path.read_text())
    assert r["settings"].items() >= size.items() and len(r["values"]) > 10
    assert r["command"] == f"CARBONFLUX_WRITE_REFERENCE=1 .venv/bin/nbdev-test nbs/{chapter}.ipynb --n-workers 0"
    values = r["values"]
    check_reference(chapter, values, path, rtol=r["rtol"], atol=r["atol"], settings=r["settings"])
    item = next(k for k, v in values.items() if isinstance(v, float) and abs(v) > 1e-2)
    with pytest.raises(ReferenceMismatch, match=rf"1 of {len(values)} items depart(?s:.*)\n  {re.escape(item)}: stored "):
        check_reference(chapter, values | {item: values[item] * 1.01}, path, rtol=r["rtol"], atol=r["atol"], settings=r["settings"])
