"""Issue 23, point 9: the references the EC chapters validate against ship with the package, so the validation runs
on a fresh clone. Every shipped sample must be there with the recorded content (sha256 of the uncompressed bytes);
a missing or altered reference file is an error that names the file, never a silent skip."""
import lzma

import pandas as pd
import pytest

import carbonflux_nb.datasets as ds
from carbonflux_nb.core import InputError


@pytest.mark.parametrize("name", sorted(ds.SAMPLES))
def test_sample_content_matches_recorded_sha256(name):
    assert ds._content_sha256(name) == ds.SAMPLES[name]["sha256"]


@pytest.mark.parametrize("kind, shape, col", [("mds", (17520, 12), "NEE_f"), ("ustar_thresholds", (7, 4), "uStar"),
                                              ("partitioning", (17520, 67), "GPP_DT_uStar")])
def test_load_reddyproc_detha98(kind, shape, col):
    df = ds.load_reddyproc_detha98(kind)
    assert df.shape == shape and col in df and "REddyProc 1.3.3" in df.attrs["produced_by"]
    if kind != "ustar_thresholds":
        assert df.index[0] == pd.Timestamp("1998-01-01") and df.index[-1] == pd.Timestamp("1998-12-31 23:30")


def test_unknown_kind_names_the_choices():
    with pytest.raises(InputError, match=r"variable 'kind'.*unknown kind; known: \['mds', 'partitioning', 'ustar_thresholds'\]"):
        ds.load_reddyproc_detha98("nighttime")


def test_missing_reference_file_is_an_error(monkeypatch):
    monkeypatch.setitem(ds.SAMPLES["reddyproc_detha98_mds"], "file", "reddyproc133_detha98_mds_gone.csv.xz")
    with pytest.raises(InputError, match=r"reddyproc133_detha98_mds_gone\.csv\.xz.*not found in the package data"):
        ds.load_reddyproc_detha98("mds")


def test_altered_reference_file_fails_its_checksum(tmp_path, monkeypatch):
    bad = tmp_path / ds.SAMPLES["reddyproc_detha98_ustar_thresholds"]["file"]
    text = lzma.decompress(ds.sample_path("reddyproc_detha98_ustar_thresholds").read_bytes()).replace(b"0.352", b"0.353")
    bad.write_bytes(lzma.compress(text))
    monkeypatch.setattr(ds, "data_path", lambda *parts: tmp_path / parts[-1])
    assert ds._content_sha256("reddyproc_detha98_ustar_thresholds") != ds.SAMPLES["reddyproc_detha98_ustar_thresholds"]["sha256"]
    assert ds.load_reddyproc_detha98("ustar_thresholds").uStar.iloc[4] == 0.353   # what the checksum guards against
