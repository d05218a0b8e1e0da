"""The SIF table reader on a user's gzipped CSV: own column names, GPP in umol m-2 s-1, errors naming file and column;
and on a TROPOMI-tower matchup table: several soundings per site-day, merged with aggregate=, an IGBP column carried."""
import gzip
import re
import numpy as np
import pandas as pd
import pytest
from carbonflux_nb.core import InputError, TimeAxisError, UnitsError, M_C, SECONDS_PER_DAY
from carbonflux_nb.gpp.sif_reader import example_sif_table, read_sif_table, table_units

NAMES = {"site": "SITE_ID", "time": "DATE", "sif": "SIF_743", "gpp": "GPP_DT_VUT_REF", "ta": "TA_F", "srad": "SW_IN_F",
         "vpd": "VPD_F", "prec": "P_F", "lat": "LAT", "lon": "LON", "sif_uncertainty": "SIF_743_SD"}
UMOL_TO_GC = 1e-6 * M_C * SECONDS_PER_DAY        # gC m-2 d-1 per umol CO2 m-2 s-1


def user_csv(path, edit=None):
    "The example table under the user's names, GPP in umol m-2 s-1, written gzipped to `path`; returns the canonical table."
    ref = example_sif_table()
    u = ref.rename(columns=NAMES).assign(DATE=ref.time.dt.strftime("%Y-%m-%d"), GPP_DT_VUT_REF=ref.gpp / UMOL_TO_GC)
    if edit: u = edit(u)
    u.to_csv(path, index=False)                   # .csv.gz: pandas compresses
    return ref


def test_gzipped_csv_with_own_names_and_umol_gpp(tmp_path):
    p = tmp_path / "my_sites.csv.gz"
    ref = user_csv(p)
    assert gzip.decompress(p.read_bytes()).startswith(b"SITE_ID,DATE,")
    got = read_sif_table(p, columns=NAMES, units={"gpp": "umol m-2 s-1"})
    keep = ref.sif.notna() | ref.gpp.notna()
    assert len(got) == keep.sum() and got.attrs["dropped"] == {"no target": int((~keep).sum())}
    assert got.attrs["converted"] == {"gpp": "umol m-2 s-1 -> gC m-2 d-1"} and got.attrs["units"]["gpp"] == "gC m-2 d-1"
    assert got.attrs["source"] == str(p) and got.attrs["columns"]["gpp"] == "GPP_DT_VUT_REF"
    np.testing.assert_allclose(got.gpp, ref.gpp[keep], rtol=1e-12)
    np.testing.assert_allclose(UMOL_TO_GC, 1.0377504)                    # 12.011e-6 g mol-1 x 86400 s d-1
    assert list(got.columns[:2]) == ["site", "time"] and got.site.is_monotonic_increasing
    assert got.groupby("site").time.apply(lambda t: t.is_monotonic_increasing and t.is_unique).all()
    with pytest.raises(UnitsError, match="cannot convert energy flux"):  # GPP said to be in W m-2
        read_sif_table(p, columns=NAMES, units={"gpp": "W m-2"})


def test_error_names_file_column_and_line(tmp_path):
    p = tmp_path / "broken.csv.gz"
    user_csv(p, lambda u: u.assign(TA_F=u.TA_F.astype(object).where(u.index != 4, "n/a?")))
    with pytest.raises(InputError) as e:
        read_sif_table(p, columns=NAMES, units={"gpp": "umol m-2 s-1"})
    assert str(e.value).startswith(f"file {p}, variable 'TA_F': text 'n/a?' in a numeric column at line 6")
    q = tmp_path / "no_gpp.csv.gz"
    user_csv(q, lambda u: u.drop(columns="GPP_DT_VUT_REF"))
    with pytest.raises(InputError, match=r"variable 'GPP_DT_VUT_REF': required column for 'gpp' is missing \(the table has 10 columns: SITE_ID"):
        read_sif_table(q, columns=NAMES)


# A TROPOMI-tower matchup as extraction tools write it: one row per sounding near the tower (rows in no order), the
# tower's daily GPP repeated on each, 15 reflectances per sounding, M/D/YYYY dates, the IGBP class, a units row.
SITES = {"US-Ha1": ("DBF", 42.5378, -72.1715, 15.0), "US-NR1": ("ENF", 40.0329, -105.5464, 22.0),   # IGBP, tower lat, lon,
         "DE-Tha": ("ENF", 50.9626, 13.5651, 22.0), "US-Ne1": ("CRO", 41.1651, -96.4766, 11.0)}     # GPP / SIF
BANDS = [f"TROPOMI_REF_{w}" for w in (665, 681, 709, 712, 741, 755, 772, 781)] + [f"MODIS_B{b}" for b in range(1, 8)]
MATCHUP = {"site": "SITE_ID", "time": "DATE", "lat": "TOWER_LAT", "lon": "TOWER_LON", "ecosystem": "IGBP", "sif": "SIF_743",
           "sif_uncertainty": "SIF_743_SIGMA", "gpp": "GPP_DT_VUT_REF"}
UNITS_ROW = {"TOWER_LAT": "degrees_north", "TOWER_LON": "degrees_east", "SIF_743": "mW/m^2/sr/nm", "SIF_743_SIGMA": "mW m-2 sr-1 nm-1",
             "GPP_DT_VUT_REF": "umol/m^2/s", "SOUNDING_LAT": "degrees_north", "SOUNDING_LON": "degrees_east", **dict.fromkeys(BANDS, "1")}
READ = dict(units_row=True, columns=MATCHUP, predictors=BANDS, time_format="%m/%d/%Y")


def matchup_csv(path, edit=None, units=UNITS_ROW, seed=26):
    "Write the matchup table (after `edit`) with a units row to `path`; returns the table as written."
    r, rows = np.random.default_rng(seed), []
    for site, (igbp, lat, lon, k) in SITES.items():
        for day in pd.date_range("2019-07-01", periods=24):
            if r.random() < 0.2: continue                                 # no overpass, or all of it cloudy
            n, gpp = int(r.integers(1, 6)), round(float(r.uniform(2, 12)), 3)   # soundings; umol m-2 s-1
            sif = np.round(gpp * UMOL_TO_GC / k + r.normal(0, 0.02, n), 4)
            sif[r.random(n) < 0.15] = -9999.0                             # a flagged sounding
            refl = np.round(r.uniform(0.02, 0.5, (n, len(BANDS))), 4)
            rows += [{"SITE_ID": site, "DATE": f"{day.month}/{day.day}/{day.year}", "SOUNDING_TIME": f"13:{r.integers(10, 60)}",
                      "SOUNDING_LAT": round(lat + r.normal(0, 0.03), 4), "SOUNDING_LON": round(lon + r.normal(0, 0.03), 4),
                      "IGBP": igbp, "TOWER_LAT": lat, "TOWER_LON": lon, "SIF_743": sif[j], "SIF_743_SIGMA": round(r.uniform(0.2, 0.4), 4),
                      "GPP_DT_VUT_REF": gpp, **dict(zip(BANDS, refl[j]))} for j in range(n)]
    table = pd.DataFrame(rows).sample(frac=1, random_state=0).reset_index(drop=True)
    if edit: table = edit(table)
    head = ",".join(table.columns) + "\n" + ",".join(units.get(c, "-") for c in table.columns) + "\n"
    path.write_text(head + table.to_csv(index=False, header=False, lineterminator="\n"))
    return table


def by_site_day(table, col) -> dict:
    "{(site, day): the values of `col` on its soundings, fill values left out}, sorted: the merge done by hand."
    out = {}
    for site, date, v in zip(table.SITE_ID, table.DATE, table[col]):
        m, d, y = map(int, date.split("/"))
        out.setdefault((site, pd.Timestamp(y, m, d)), []).append(v)
    return {k: np.array([x for x in out[k] if x != -9999.0]) for k in sorted(out)}


@pytest.mark.parametrize("how, f", [("mean", np.mean), ("median", np.median)])
def test_matchup_soundings_merged_per_site_day(tmp_path, how, f):
    p = tmp_path / "tropomi_tower_matchup.csv"
    table = matchup_csv(p)
    got = read_sif_table(p, aggregate=how, **READ)
    n = {k: len(v) for k, v in by_site_day(table, "GPP_DT_VUT_REF").items()}        # GPP is on every sounding
    keys = list(n)
    assert list(got.columns) == ["site", "time", "lat", "lon", "ecosystem", "sif", "sif_uncertainty", "gpp", *BANDS, "n_soundings"]
    assert list(zip(got.site, got.time)) == keys and len(keys) < len(table)          # each site-day has GPP: none dropped
    assert got.n_soundings.tolist() == [n[k] for k in keys] and got.n_soundings.sum() == len(table) == got.attrs["n_read"]
    sif = by_site_day(table, "SIF_743")
    assert any(len(v) == 0 for v in sif.values()) and any(0 < len(v) < n[k] for k, v in sif.items())   # all or some flagged
    np.testing.assert_allclose(got.sif, [f(sif[k]) if len(sif[k]) else np.nan for k in keys], rtol=1e-12)
    for col, name in [("SIF_743_SIGMA", "sif_uncertainty"), *zip(BANDS, BANDS)]:
        np.testing.assert_allclose(got[name], [f(v) for v in by_site_day(table, col).values()], rtol=1e-12)
    np.testing.assert_allclose(got.gpp, [by_site_day(table, "GPP_DT_VUT_REF")[k][0] * UMOL_TO_GC for k in keys], rtol=1e-12)
    np.testing.assert_allclose(got[["lat", "lon"]], [SITES[s][1:3] for s, _ in keys], rtol=0, atol=1e-9)
    assert got.ecosystem.tolist() == [SITES[s][0] for s, _ in keys]
    assert got.attrs["converted"] == {"gpp": "umol/m^2/s -> gC m-2 d-1"} and got.attrs["units"]["sif"] == "mW m-2 nm-1 sr-1"
    assert got.attrs["n_fill"] == {"sif": int((table.SIF_743 == -9999.0).sum())} and got.attrs["dropped"] == {"no target": 0}
    assert (got.attrs["aggregate"], got.attrs["text_columns"], got.attrs["predictors"]) == (how, ["ecosystem"], BANDS)
    assert got.attrs["ignored"] == ["SOUNDING_TIME", "SOUNDING_LAT", "SOUNDING_LON"]


def test_mean_and_median_differ_and_feed_the_per_ecosystem_relation(tmp_path):
    from carbonflux_nb.gpp.sif_ec import SIFRelation          # here, not at the top: it loads torch
    p = tmp_path / "matchup.csv"
    matchup_csv(p)
    mean, median = (read_sif_table(p, aggregate=how, **READ) for how in ("mean", "median"))
    assert (mean.n_soundings > 2).any() and not np.allclose(mean[BANDS], median[BANDS], rtol=1e-6)
    relation = SIFRelation(per_ecosystem=True, min_n=10).fit(mean.sif, mean.gpp, mean.ecosystem)
    assert set(relation.k_.index) == {"DBF", "ENF", "CRO"} and relation.n_.sum() == mean.sif.notna().sum()
    np.testing.assert_allclose(relation.k_[["DBF", "ENF", "CRO"]], [15.0, 22.0, 11.0], rtol=0.1)   # the GPP/SIF of SITES
    pred = relation.predict(mean.sif, mean.ecosystem)
    assert np.isfinite(pred[mean.sif.notna().to_numpy()]).all()


def test_matchup_errors(tmp_path):
    p = tmp_path / "matchup.csv"
    table = matchup_csv(p)
    with pytest.raises(TimeAxisError, match=r"^file .*, variable 'DATE': site '[\w-]+' has \d rows for 2019-07-\d\d 00:00:00 \(line \d+, line "
                                            r".*pass aggregate='mean' or aggregate='median'$"):
        read_sif_table(p, **READ)                                 # soundings without aggregate=
    day = table.groupby(["SITE_ID", "DATE"]).groups
    rows = next(sorted(i) for i in day.values() if len(i) >= 3)  # a site-day of three soundings or more
    q = tmp_path / "two_classes.csv"
    t = matchup_csv(q, lambda t: t.assign(IGBP=t.IGBP.where(t.index != rows[-1], "GRA")))
    site, date, igbp = t.SITE_ID[rows[0]], t.DATE[rows[0]], t.IGBP[rows[0]]
    m, d, y = map(int, date.split("/"))
    want = (f"file {q}, variable 'IGBP': site '{site}' has 2 values for {pd.Timestamp(y, m, d)} ('{igbp}' at line {rows[0] + 3}, "
            f"'GRA' at line {rows[-1] + 3}); the rows of a (site, time) must agree on a text column to be aggregated (1 such")
    with pytest.raises(InputError, match="^" + re.escape(want)):
        read_sif_table(q, aggregate="median", **READ)
    u = tmp_path / "no_per_nm.csv"
    matchup_csv(u, units={**UNITS_ROW, "SIF_743": "mW m-2 sr-1"})
    with pytest.raises(UnitsError, match="^" + re.escape(f"file {u}, variable 'SIF_743': unknown units 'mW m-2 sr-1' (the units of 'sif', "
                                                         "from the units row); known units")):
        read_sif_table(u, aggregate="mean", **READ)
    with pytest.raises(UnitsError, match=re.escape("variable 'SIF_743': unknown units 'W/m2/nm/sr' (the units of 'sif', from units=)")):
        read_sif_table(p, aggregate="mean", **{**READ, "units": {"sif": "W/m2/nm/sr"}})       # 1000 times mW/m2/nm/sr
    with pytest.raises(UnitsError, match=re.escape("variable 'SIF_743': units='W/m^2/sr/um' but the units row says 'mW/m^2/sr/nm'")):
        read_sif_table(p, aggregate="mean", **{**READ, "units": {"sif": "W/m^2/sr/um"}})      # both read, as different units
    same = read_sif_table(p, aggregate="mean", **{**READ, "units": {"sif": "mW sr-1 nm-1 m-2"}})  # the row's, spelt otherwise
    assert same.attrs["converted"] == {"gpp": "umol/m^2/s -> gC m-2 d-1"}
    with pytest.raises(InputError, match="aggregate must be None, 'mean' or 'median', not 'sum'"):
        read_sif_table(p, aggregate="sum", **READ)


@pytest.mark.parametrize("spelling", ["mW m-2 nm-1 sr-1", "mW m-2 sr-1 nm-1", "mW/m2/nm/sr", "mW/m^2/sr/nm", "mW m^-2 sr^-1 nm^-1",
                                      "mW/(m2 sr nm)", "mW m⁻² nm⁻¹ sr⁻¹", "mW.m-2.sr-1.nm-1", "sr-1 nm-1 mW m-2"])
def test_sif_radiance_in_any_order(spelling):
    assert table_units(spelling, "t.csv", "SIF") == "mW m-2 nm-1 sr-1"
