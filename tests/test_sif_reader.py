"""The SIF table reader on a user's gzipped CSV: own column names, GPP in umol m-2 s-1, errors naming file and column."""
import gzip
import numpy as np
import pytest
from carbonflux_nb.core import InputError, UnitsError, M_C, SECONDS_PER_DAY
from carbonflux_nb.gpp.sif_reader import example_sif_table, read_sif_table

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
