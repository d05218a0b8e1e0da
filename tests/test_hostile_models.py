"""Hostile model files and inputs for the GPP models (issue 22): a crafted skops or torch file runs no code, a
malformed model folder is an InputError naming the file, a feature constant in training does not blow up at
prediction, SeqRegressor survives scikit-learn's `clone`, and JVMs of killed h2o sessions are found and stopped."""
import json, os, subprocess, sys
import numpy as np, pandas as pd
import psutil, pytest
import torch

from carbonflux_nb.core import InputError, MissingDataError
from carbonflux_nb.gpp.automl import GPPModel, LibraryModel, reap_orphan_h2o, trusted_skops_load
from carbonflux_nb.gpp.fluxformer import SeqRegressor, synthetic_seq_data
from carbonflux_nb.gpp.sif_ec import MultiTaskMoE, SIFTML

torch.set_num_threads(1)
FEATS = ["a", "b", "c"]
RF = "sklearn.ensemble._forest.RandomForestRegressor"


def _frame(n=40, seed=0):
    r = np.random.default_rng(seed)
    X = pd.DataFrame(r.normal(size=(n, len(FEATS))), columns=FEATS)
    return X, X.a.to_numpy() + 0.1 * r.normal(size=n)


def _rf(n_estimators=3):
    from sklearn.ensemble import RandomForestRegressor
    X, y = _frame()
    return RandomForestRegressor(n_estimators=n_estimators, random_state=0, n_jobs=1).fit(X, y)


def _crafted_skops(path, marker):
    """A skops file whose `predict` runs `exec` through numpy functions only: the pipeline turns its input into the
    code (np.full_like + np.take) and hands it to numpy.testing's `runstring`, which calls exec."""
    import skops.io as sio
    from numpy.testing._private.utils import runstring
    from sklearn.dummy import DummyRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer
    code = f"open({str(marker)!r}, 'w').write('ran')"
    evil = Pipeline([("code", FunctionTransformer(np.full_like, kw_args={"fill_value": code, "dtype": f"<U{len(code)}"})),
                     ("one", FunctionTransformer(np.take, kw_args={"indices": 0})),
                     ("run", FunctionTransformer(runstring, kw_args={"dict": {}})),
                     ("model", DummyRegressor().fit(np.zeros((2, 1)), [0.0, 1.0]))])
    sio.dump(evil, path)
    # the file is live: loaded with every type it names trusted (the old prefix rule: all numpy/sklearn), predict runs it
    with pytest.raises(Exception): sio.load(path, trusted=sio.get_untrusted_types(file=path)).predict(_frame(2)[0])
    assert marker.exists(), "the crafted file no longer runs its payload: update the crafted pipeline"
    marker.unlink()
    return path


def _gpp_folder(folder, file, platform="flaml"):
    folder.mkdir(parents=True, exist_ok=True)
    man = {"features": FEATS, "target": "gpp", "pfts": {"ENF": {"platform": platform, "algorithm": "rf", "file": file}}}
    (folder / "manifest.json").write_text(json.dumps(man))
    return folder


@pytest.fixture(scope="module")
def seq_rf(tmp_path_factory):
    "A tiny fitted Random Forest SeqRegressor, its data and its saved folder."
    data = synthetic_seq_data(n_sites=4, years=(2017,), setting="1M", seed=0)
    m = SeqRegressor("rf", progress=False, n_estimators=3).fit(data)
    return m, data, m.save(tmp_path_factory.mktemp("seq") / "rf")


# ---- 1. a crafted model file runs no code -------------------------------------------------------------------

@pytest.mark.parametrize("loader", ["GPPModel", "SeqRegressor"])
def test_crafted_skops_file_runs_no_code(tmp_path, seq_rf, loader):
    marker = tmp_path / "marker"
    if loader == "GPPModel":
        bad = _crafted_skops(_gpp_folder(tmp_path / "m", "ENF__flaml__rf.skops") / "ENF__flaml__rf.skops", marker)
        load = lambda: GPPModel.load(tmp_path / "m").predict(_frame(3)[0], pft="ENF")
    else:
        folder = tmp_path / "seq"
        folder.mkdir(); (folder / "config.json").write_text((seq_rf[2] / "config.json").read_text())
        bad = _crafted_skops(folder / "model.skops", marker)
        load = lambda: SeqRegressor.load(folder).predict(seq_rf[1])
    with pytest.raises(InputError, match="untrusted.*numpy.testing._private.utils.runstring") as e: load()
    assert str(bad) in str(e.value)
    assert not marker.exists()


def test_our_skops_models_load_and_predict_the_same(tmp_path):
    "The three estimators we save with skops pass the allow-list and predict as before."
    import skops.io as sio
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.neighbors import KNeighborsRegressor
    X, y = _frame()
    for est in (_rf(), ExtraTreesRegressor(n_estimators=3, random_state=0).fit(X, y), KNeighborsRegressor(3).fit(X, y)):
        f = tmp_path / f"{type(est).__name__}.skops"; sio.dump(est, f)
        np.testing.assert_array_equal(trusted_skops_load(f).predict(X), est.predict(X))


def test_skops_file_with_another_estimator_is_refused(tmp_path):
    "Only the estimators we save: another (harmless) class in a model file is refused by name."
    import skops.io as sio
    from sklearn.linear_model import LinearRegression
    f = tmp_path / "lin.skops"; sio.dump(LinearRegression().fit(*_frame()), f)
    with pytest.raises(InputError, match=r"refusing to load a sklearn\.linear_model\._base\.LinearRegression"): trusted_skops_load(f)


# ---- malformed GPPModel folders ------------------------------------------------------------------------------

def _bad_folder(tmp_path, case):
    d = tmp_path / "m"
    if case == "no folder": return d, "no manifest.json"
    if case == "manifest not JSON":
        d.mkdir(); (d / "manifest.json").write_text("{not json"); return d, r"manifest\.json: not readable as JSON"
    if case == "manifest lacks pfts":
        d.mkdir(); (d / "manifest.json").write_text(json.dumps({"features": FEATS, "target": "gpp"})); return d, "variable 'pfts'"
    if case == "unknown platform": return _gpp_folder(d, "x.skops", "sklearn"), "needs a platform among"
    if case == "file outside the folder":
        import skops.io as sio
        sio.dump(_rf(), tmp_path / "other.skops")          # a real model, but not in the folder
        return _gpp_folder(d, "../other.skops"), "must be a file name inside the folder"
    if case == "unknown format": return _gpp_folder(d, "ENF.pkl"), r"ENF\.pkl.*unknown model format '\.pkl'"
    if case == "empty skops file":
        _gpp_folder(d, "ENF.skops"); (d / "ENF.skops").write_bytes(b""); return d, r"ENF\.skops.*not a readable skops model file"
    if case == "h2o model not trusted":
        _gpp_folder(d, "ENF.h2o", "h2o"); (d / "ENF.h2o").write_bytes(b"\xac\xed\x00\x05"); return d, r"H2O binary model.*trust_h2o=True"
    if case == "corrupt xgboost file":
        _gpp_folder(d, "ENF.ubj"); (d / "ENF.ubj").write_bytes(b"\x00garbage" * 8); return d, r"ENF\.ubj.*not a readable model file"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["no folder", "manifest not JSON", "manifest lacks pfts", "unknown platform",
                                  "file outside the folder", "unknown format", "empty skops file", "corrupt xgboost file",
                                  "h2o model not trusted"])
def test_gppmodel_load_refuses_a_malformed_folder(tmp_path, case):
    folder, msg = _bad_folder(tmp_path, case)
    with pytest.raises(InputError, match=msg) as e: GPPModel.load(folder)
    assert str(folder) in str(e.value)


def test_librarymodel_missing_columns_named(tmp_path):
    import skops.io as sio
    sio.dump(_rf(), tmp_path / "m.skops")
    m = LibraryModel.load(tmp_path / "m.skops", FEATS, "rf")
    with pytest.raises(InputError, match=r"missing predictor columns \['c'\]"): m.predict(_frame(3)[0].drop(columns="c"))


# ---- 12. JVMs of killed sessions ------------------------------------------------------------------------------

def test_reap_orphan_h2o_stops_only_our_orphans(tmp_path):
    """A pid file whose owner is gone and whose process is `java` with our cluster name: stopped; a live owner's JVM
    or a process that is not java: left alone (the latter's stale pid file removed, as a malformed one)."""
    java = tmp_path / "bin" / "java"; java.parent.mkdir(); java.symlink_to(os.path.realpath(sys.executable))
    sleep = ["-c", "import time; time.sleep(60)", "-name"]
    procs = {"orphan": subprocess.Popen([str(java), *sleep, "carbonflux_1_1"]),
             "live owner": subprocess.Popen([str(java), *sleep, "carbonflux_2_2"]),
             "not java": subprocess.Popen([sys.executable, *sleep, "carbonflux_3_3"])}
    try:
        me = psutil.Process()
        owner = {"orphan": 0.0, "live owner": me.create_time(), "not java": 0.0}      # 0.0: not our start time, so gone
        d = tmp_path / "pids"; d.mkdir()
        for i, (k, p) in enumerate(procs.items()):
            (d / f"{i}.json").write_text(json.dumps({"owner": me.pid, "owner_created": owner[k], "jvm": p.pid, "jvm_created":
                                                    psutil.Process(p.pid).create_time(), "name": f"carbonflux_{i + 1}_{i + 1}"}))
        (d / "9.json").write_text("{garbage")
        with pytest.warns(UserWarning, match="left running by a killed session"): stopped = reap_orphan_h2o(d)
        assert stopped == [procs["orphan"].pid]
        procs["orphan"].wait(timeout=10)
        assert procs["live owner"].poll() is None and procs["not java"].poll() is None
        assert sorted(f.name for f in d.iterdir()) == ["1.json"]
    finally:
        for p in procs.values(): p.kill(); p.wait()


# ---- 17. SeqRegressor and scikit-learn's clone -----------------------------------------------------------------

def test_seqregressor_clone_and_set_params(seq_rf):
    from sklearn.base import clone
    fitted = seq_rf[0]
    c = clone(fitted)
    assert c.get_params() == fitted.get_params() and not hasattr(c, "max_len_") and not hasattr(c, "estimator_")
    m = SeqRegressor("mlp", epochs=3, hidden=(8,), progress=False)
    assert m.set_params(epochs=5, dropout=0.2, lr=1e-2) is m
    assert (m.epochs, m.config.epochs, m.model_kw, m.lr) == (5, 5, {"hidden": (8,), "dropout": 0.2}, 1e-2)
    assert clone(m).get_params() == m.get_params()
    with pytest.raises(InputError, match=r"unknown parameter\(s\) \['epoch'\].*SeqRegressor\('mlp'\)"): m.set_params(epoch=4)
    with pytest.raises(InputError, match="unknown model"): m.set_params(model="transformer")


# ---- malformed SeqRegressor folders and inputs -------------------------------------------------------------------

class _Payload:
    "Unpickling this object runs code (writes `marker`)."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def _pickled_weights(path, marker):
    torch.save(_Payload(marker), path)
    torch.load(path, weights_only=False)                        # the file is live: a full unpickler runs it
    assert marker.exists(); marker.unlink()
    return path


@pytest.mark.parametrize("case", ["pickled weights", "config not JSON", "config lacks scalers"])
def test_seqregressor_load_refuses_a_malformed_folder(tmp_path, seq_rf, case):
    d = tmp_path / "m"; d.mkdir()
    cfg = json.loads((seq_rf[2] / "config.json").read_text())
    if case == "pickled weights":                               # an MLP's folder whose weights.pt is a code-running pickle
        params = {k: v for k, v in cfg["params"].items() if k != "n_estimators"} | {"model": "mlp"}
        (d / "config.json").write_text(json.dumps(cfg | {"params": params}))
        bad, msg = _pickled_weights(d / "weights.pt", tmp_path / "marker"), "not a readable model file"
    elif case == "config not JSON": bad, msg = d / "config.json", "not readable as JSON"; bad.write_text("{")
    else:
        bad, msg = d / "config.json", r"lacks \['x_std_'\]"
        bad.write_text(json.dumps({k: v for k, v in cfg.items() if k != "x_std_"}))
    with pytest.raises(InputError, match=msg) as e: SeqRegressor.load(d)
    assert str(bad) in str(e.value) and not (tmp_path / "marker").exists()


def test_seqregressor_predict_names_the_bad_input(seq_rf):
    m, data, _ = seq_rf
    bad = data.subset(np.arange(len(data))); bad.X[2, 0, 1] = np.nan
    with pytest.raises(MissingDataError, match=rf"variable 'X'.*NaN.*{data.features[1]}"): m.predict(bad)
    other = data.subset(np.arange(len(data))); other.features = other.features[::-1]
    with pytest.raises(InputError, match="variable 'features'.*differ from the model's"): m.predict(other)


# ---- 8. a feature constant in training ---------------------------------------------------------------------------

def _constant_column_data(n=300):
    r = np.random.default_rng(1)
    X = np.c_[r.normal(size=(n, 3)), np.zeros(n)].astype(np.float32)    # the last column: a class no training site has
    return r, X, X[:, 0] + 0.1 * r.normal(size=n)


@pytest.mark.parametrize("cls", [SIFTML, MultiTaskMoE])
def test_feature_constant_in_training_stays_bounded(cls):
    r, X, y = _constant_column_data()
    if cls is SIFTML: m = SIFTML(fine_epochs=3, progress=False, device="cpu").fit(X, y)
    else:
        sif = np.where(r.random(len(X)) < 0.5, X[:, 1] + 2, np.nan)
        gpp = np.where(r.random(len(X)) < 0.3, y + 3, np.nan)
        m = MultiTaskMoE(epochs=3, progress=False, device="cpu").fit(X, sif, gpp, np.zeros(len(X), int))
    assert m.x_std_[3] == 1.0
    Xp = X[:20].copy(); Xp[:, 3] = 1                                        # that class present at prediction
    assert np.abs(m.predict(Xp) - m.predict(X[:20])).max() < 3 * np.nanstd(y)   # before: about 5e4 off


def test_siftml_takes_columns_by_name_and_names_what_is_missing():
    _, X, y = _constant_column_data(200)
    df = pd.DataFrame(X, columns=["ta", "srad", "vpd", "lai"])
    m = SIFTML(fine_epochs=2, progress=False, device="cpu").fit(df, y)
    np.testing.assert_allclose(m.predict(df[df.columns[::-1]]), m.predict(df), rtol=1e-6)    # reordered: the same
    with pytest.raises(InputError, match=r"variable 'X'.*lacks the feature column\(s\) \['vpd'\]"): m.predict(df.drop(columns="vpd"))
    with pytest.raises(MissingDataError, match="variable 'X'.*non-finite"): m.predict(df.assign(ta=np.nan))


def test_siftml_load_refuses_pickled_weights(tmp_path):
    _, X, y = _constant_column_data(100)
    d = SIFTML(fine_epochs=1, progress=False, device="cpu").fit(X, y).save(tmp_path / "m")
    _pickled_weights(d / "weights.pt", tmp_path / "marker")
    with pytest.raises(InputError, match=r"weights\.pt.*not readable as this model's weights"): SIFTML.load(d)
    assert not (tmp_path / "marker").exists()
