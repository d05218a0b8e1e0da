"The checked cache of real inputs (chapter 08c): shipped copy, cache, development folder, download; tiny files in tmp_path."
import gzip
import hashlib
from pathlib import Path

import pooch
import pytest

from carbonflux_nb import inputs
from carbonflux_nb.config import load_settings, use_settings
from carbonflux_nb.core import InputError

NAME = "testset/tiny.nc"
DATA = b"a tiny real input\n" * 20
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def world(tmp_path, monkeypatch):
    "Empty shipped, cache and development folders, one registered file, no network."
    shipped, cache, data = tmp_path / "pkg", tmp_path / "cache", tmp_path / "data"
    entry = inputs.RealInput(NAME, len(DATA), SHA, "owner/repo@abc1234:tests/tiny.nc", "no", "MIT")
    monkeypatch.setitem(inputs.REAL_INPUTS, NAME, entry)
    monkeypatch.setattr(inputs, "shipped_folder", lambda: shipped)
    monkeypatch.setattr(pooch, "retrieve", lambda *a, **k: (_ for _ in ()).throw(ConnectionError("no network here")))
    prev = use_settings(load_settings(overrides={"cache_dir": str(cache), "data_dir": str(data)}, env={}))
    yield dict(shipped=shipped / NAME, cache=cache / "inversion_real" / NAME, mirror=data / "inversion_real" / NAME, entry=entry)
    use_settings(prev)


def put(p:Path, b:bytes=DATA) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True); p.write_bytes(b); return p


def test_mirror_is_checked_and_copied_into_the_cache(world):
    put(world["mirror"])
    p = inputs.real_input(NAME)
    assert p == world["cache"] and p.read_bytes() == DATA
    assert [q.name for q in p.parent.iterdir()] == ["tiny.nc"]          # no temporary file left beside it
    world["mirror"].unlink()
    assert inputs.real_input(NAME) == world["cache"]                    # from then on from the cache


@pytest.mark.parametrize("where", ["mirror", "cache", "shipped"])
def test_an_altered_copy_is_refused(world, where):
    if where == "shipped": world["entry"] = inputs.REAL_INPUTS[NAME] = inputs.RealInput(**{**world["entry"].__dict__, "ships": "yes"})
    put(world[where], DATA[:-1] + b"!")
    with pytest.raises(InputError, match=r"variable 'testset/tiny.nc': the .* copy of testset/tiny.nc does not match its recorded sha256 "
                                         rf"\(expected {SHA[:16]}\.\.\., found [0-9a-f]{{16}}\.\.\.\): an altered or truncated file is refused"):
        inputs.real_input(NAME)
    assert not (where == "mirror" and world["cache"].exists())          # nothing altered reaches the cache


def test_offline_with_nothing_found_says_where_to_put_it(world):
    url = "https://raw.githubusercontent.com/owner/repo/abc1234/tests/tiny.nc"
    assert world["entry"].url == url
    with pytest.raises(InputError) as e: inputs.real_input(NAME)
    msg = str(e.value)
    for says in [f"file {url}", "variable 'testset/tiny.nc'", "fetching", "ConnectionError: no network here", f"put it at {world['cache']}",
                 "set cache_dir in settings.ini", "CARBONFLUX_CACHE_DIR", "inversion_real/testset/tiny.nc"]:
        assert says in msg, says


@pytest.mark.parametrize("served", [DATA, DATA + b"x"])
def test_download_goes_through_pooch_with_the_sha256(world, monkeypatch, served):
    calls = []
    def fake_retrieve(url, known_hash, fname, path, progressbar):
        calls.append((url, known_hash, fname, Path(path)))
        if hashlib.sha256(served).hexdigest() != known_hash.split(":")[1]: raise ValueError(f"SHA256 hash of downloaded file does not match {known_hash}")
        return str(put(Path(path) / fname, served))
    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    if served == DATA:
        assert inputs.real_input(NAME) == world["cache"] and world["cache"].read_bytes() == DATA
    else:
        with pytest.raises(InputError, match=r"fetching https://raw\.githubusercontent\.com/owner/repo/abc1234/tests/tiny\.nc failed \(ValueError: SHA256 hash"):
            inputs.real_input(NAME)
    assert calls == [(world["entry"].url, f"sha256:{SHA}", "tiny.nc", world["cache"].parent)]


def test_the_shipped_copy_is_preferred(world):
    inputs.REAL_INPUTS[NAME] = inputs.RealInput(**{**world["entry"].__dict__, "ships": "yes"})
    put(world["shipped"]); put(world["mirror"])
    assert inputs.real_input(NAME) == world["shipped"] and not world["cache"].exists()


def test_a_gzip_shipped_copy_is_unpacked_into_the_cache(world):
    inputs.REAL_INPUTS[NAME] = inputs.RealInput(**{**world["entry"].__dict__, "ships": "gzip"})
    put(world["shipped"].with_name("tiny.nc.gz"), gzip.compress(DATA))
    assert inputs.real_input(NAME) == world["cache"] and world["cache"].read_bytes() == DATA


def test_the_cache_dir_setting_is_honoured(world, tmp_path):
    use_settings(load_settings(env={"CARBONFLUX_CACHE_DIR": str(tmp_path / "elsewhere")}))
    assert inputs.cache_folder() == tmp_path / "elsewhere" / "inversion_real"
    put(tmp_path / "elsewhere" / "inversion_real" / NAME)               # a user's own copy, offline
    assert inputs.real_input(NAME) == tmp_path / "elsewhere" / "inversion_real" / NAME
    use_settings(load_settings(env={}, overrides={"cache_dir": ""}))
    assert inputs.cache_folder() == Path(pooch.os_cache("carbonflux_nb")) / "inversion_real"


def test_an_unknown_name_lists_the_sets(world):
    with pytest.raises(InputError, match=r"variable 'ch4_europe_2014/nope\.nc': unknown real input .* in the sets \[.*'ch4_europe_2014'"):
        inputs.real_input("ch4_europe_2014/nope.nc")


def test_registry_ships_only_what_its_terms_allow():
    r = inputs.REAL_INPUTS
    assert len(r) == 33 and all(len(e.sha256) == 64 and e.url.startswith("https://raw.githubusercontent.com/") for e in r.values())
    fetched = {n for n, e in r.items() if e.ships == "no"}
    assert {n for n in r if "AGAGE" in n or "DECC" in n or "edgar" in n or n.endswith(".dat")} <= fetched
    assert sum(e.size for e in r.values() if e.ships == "yes") < 12.5e6
