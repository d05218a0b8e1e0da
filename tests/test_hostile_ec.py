"""Hostile input to the eddy-covariance chain (issue 22): a wrong time zone, VPD in kPa, multi-year and gappy records,
meteorological gaps longer than MDS fills, and the usual broken tower files. Each case asserts the error type and that
the message names the variable and the source, or checks the result. Most cases fail in the input checks, before any
work; only three run the chain (on a few months, without the u* filter)."""
import warnings

import numpy as np
import pandas as pd
import pytest

from carbonflux_nb.core import InputError, MissingDataError, TimeAxisError, UnitsError
from carbonflux_nb.datasets import load_detha98
from carbonflux_nb.ec.common import UMOL_M2_S_TO_GC_M2_D, check_time_zone, parse_tz_hours, potential_radiation
from carbonflux_nb.ec.pipeline import annual_sums, check_input, process_record, process_site

LOC = (51.0, 13.6)      # DE-Tha as REddyProc's example uses it; its stamps are UTC+1


@pytest.fixture(scope="module")
def d98():
    df = load_detha98()
    df.attrs["source"] = "DE-Tha_1998.csv"      # a short name to look for in the messages
    return df


def raises(exc, pattern, f, *a, **kw):
    "Call f and return the error of type `exc` whose message matches `pattern` (pytest.raises otherwise fails)."
    with pytest.raises(exc, match=pattern) as e: f(*a, **kw)
    return str(e.value)


# ---- 3. the time zone against the sun -------------------------------------------------------------------------

def test_wrong_time_zone_refused_with_the_best_fit(d98):
    "tz_hours=-11 for a UTC+1 tower: refused before any work, naming the source, the zone given and the one that fits."
    msg = raises(InputError, r"variable 'tz_hours'.*12 h .*tz_hours=-11 given, \+1 fits best", process_site, d98, *LOC, -11)
    assert "DE-Tha_1998.csv" in msg and "tz_max_hours" in msg


@pytest.mark.parametrize("shift,tz,expect", [
    ("30min", 1, 0.5),      # stamps at interval ends read as starts: half an hour, silent
    ("0min", "UTC+1", 0.0), # right, with the label as site lists give it
])
def test_time_zone_within_tolerance_is_silent(d98, shift, tz, expect):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_time_zone(d98.set_axis(d98.index + pd.Timedelta(shift)), *LOC, tz) == expect


def test_time_zone_one_hour_off_warns(d98):
    "Stamps in UTC+1 declared as UTC: a UserWarning with the zone that fits, and the chain goes on."
    with pytest.warns(UserWarning, match=r"DE-Tha_1998.csv.*tz_hours=\+0 given, \+1 fits best"):
        assert check_time_zone(d98, *LOC, "UTC") == 1.0


def test_time_zone_labels():
    labels = {"UTC+1": 1, "UTC-5": -5, "UTC+5:30": 5.5, "+1": 1, "1": 1, "GMT-03:00": -3, "-5.5": -5.5}
    assert {k: parse_tz_hours(k) for k in labels} == labels
    t = pd.date_range("1998-06-21", periods=48, freq="30min")
    np.testing.assert_allclose(potential_radiation(t, *LOC, "UTC+5:30"), potential_radiation(t, *LOC, 5.5), atol=1e-9)


def test_time_zone_label_runs_the_chain(d98):
    "process_site(tz_hours='UTC+1') no longer crashes with a TypeError: it runs and records +1."
    res = process_site(d98.loc[:"1998-04-30"], *LOC, "UTC+1", ustar=None, daytime=False)
    assert res.meta["tz_hours"] == 1.0 and res.halfhourly["GPP_NT"].notna().mean() > 0.99


@pytest.mark.parametrize("kw,variable", [
    (dict(tz_hours="CET"), "tz_hours"), (dict(tz_hours=15), "tz_hours"), (dict(lat=95), "lat"), (dict(lon="east"), "lon")])
def test_location_out_of_range_or_unreadable(d98, kw, variable):
    args = {"lat": LOC[0], "lon": LOC[1], "tz_hours": 1, **kw}
    raises(InputError, rf"DE-Tha_1998.csv, variable '{variable}'", process_site, d98, **args)


# ---- 4. VPD in kPa ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("drop,evidence", [(None, r"ratio to VPD from rH and Tair is 0\.10"),
                                           ("rH", r"99th percentile over the \d+ records above 20 degC")])
def test_vpd_in_kpa(d98, drop, evidence):
    "Real kPa data (DE-Tha's VPD / 10, largest value 3.4): judged against rH and Tair, or without rH on the warm records."
    bad = d98.assign(VPD=d98["VPD"] / 10).drop(columns=[drop] if drop else [])
    msg = raises(UnitsError, rf"variable 'VPD': VPD looks like kPa.*{evidence}", process_site, bad, *LOC, 1)
    assert "DE-Tha_1998.csv" in msg


def test_low_vpd_in_hpa_when_cold_and_humid_passes():
    "A foggy week at 2 degC, rH 97 %: VPD under 1 hPa is right, not kPa."
    t = pd.date_range("2021-01-04", periods=48 * 7, freq="30min", name="time")
    hod = (np.arange(t.size) % 48) / 2
    rg = np.clip(300 * np.sin(np.pi * (hod - 8) / 8), 0, None)
    fog = pd.DataFrame({"NEE": 1 - rg / 200, "Rg": rg, "Tair": 2 + rg / 200, "rH": 97.0, "VPD": 0.2 + rg / 1000,
                        "Ustar": 0.3}, index=t)
    for x in (fog, fog.drop(columns="rH")):                        # judged against rH, and without it
        out = check_input(x, source="fog.csv")
        assert out.attrs["padded"] == 0 and out["VPD"].max() < 1


def test_rh_as_a_fraction(d98):
    raises(UnitsError, r"DE-Tha_1998.csv, variable 'rH'.*a fraction", process_site, d98.assign(rH=d98["rH"] / 100), *LOC, 1)


# ---- 9. annual sums per calendar year ---------------------------------------------------------------------------

def test_annual_sums_per_calendar_year():
    "Half of 2019 and all of 2020 (a leap year): 2019 gets no sum, 2020 the sum over its 366 days, with the shares."
    t = pd.date_range("2019-07-01", "2021-01-01", freq="30min", inclusive="left", name="time")
    hh = pd.DataFrame({"NEE_F": -1.0, "NEE_F_QC": np.where(np.arange(t.size) % 4 == 0, 2, 0), "GPP_NT": 2.0}, index=t)
    hh.loc["2020-02-01", "NEE_F"] = np.nan                          # a day unfilled
    a = annual_sums(hh)
    assert list(a.index) == [2019, 2020] and a.index.name == "year"
    assert np.isnan(a.loc[2019, "GPP_NT"]) and a.loc[2019, "missing"] == pytest.approx(181 / 365, rel=1e-9)
    assert a.loc[2020, "GPP_NT"] == pytest.approx(2.0 * UMOL_M2_S_TO_GC_M2_D * 366, rel=1e-9)
    assert a.loc[2020, "NEE_F"] == pytest.approx(-1.0 * UMOL_M2_S_TO_GC_M2_D * 366, rel=1e-9)   # 1 day of 366 missing: the mean
    assert a.loc[2020, "missing"] == pytest.approx(1 / 366, rel=1e-9)
    assert a.loc[2020, "filled"] == pytest.approx(0.25 * 365 / 366, abs=2e-3)


def test_annual_of_a_multi_year_gappy_record(d98):
    "1998 whole and the first four months again as 1999: a row per year, 1999 NaN (two thirds missing), 1998 as alone."
    extra = d98.loc[:"1998-04-30"].set_axis(d98.loc[:"1998-04-30"].index + pd.DateOffset(years=1))
    two = pd.concat([d98, extra])
    two.attrs = dict(d98.attrs)
    res = process_site(two, *LOC, 1, ustar=None, daytime=False)
    a = res.annual()
    assert list(a.index) == [1998, 1999]
    assert np.isnan(a.loc[1999, "GPP_NT"]) and a.loc[1999, "missing"] == pytest.approx(245 / 365, abs=1e-9)
    assert a.loc[1998, "missing"] == 0 and 0.3 < a.loc[1998, "filled"] < 0.5
    assert 1500 < a.loc[1998, "GPP_NT"] < 2300                    # REddyProc (with the u* filter): 1919 gC m-2 yr-1


# ---- 16. meteorological gaps longer than MDS fills --------------------------------------------------------------

@pytest.mark.parametrize("var", ["Tair", "Rg"])
def test_long_met_gap_names_the_fix(d98, var):
    bad = d98.assign(**{var: d98[var].mask((d98.index >= "1998-04-01") & (d98.index < "1998-06-05"))})   # 65 days
    msg = raises(MissingDataError, rf"DE-Tha_1998.csv, variable '{var}': missing for 65 days", process_site, bad, *LOC, 1)
    assert "process_record" in msg and "daytime=False" in msg and "gap-fill it with MDS" not in msg


def test_process_record_splits_at_a_long_met_gap(d98):
    "The fix the message names: process_record processes the parts on either side of the Tair gap, day-time included."
    x = d98.loc[:"1998-09-30"].copy()
    x.loc["1998-04-01":"1998-06-04", "Tair"] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        subs = process_record(x, lat=LOC[0], lon=LOC[1], tz_hours=1, ustar=None)
    assert [(str(r.halfhourly.index[0].date()), str(r.halfhourly.index[-1].date())) for r in subs.values()] == [
        ("1998-01-01", "1998-03-31"), ("1998-06-05", "1998-09-30")]
    assert all(r.halfhourly["GPP_DT"].notna().all() for r in subs.values())


# ---- broken tower records --------------------------------------------------------------------------------------

def _broken(d, what):
    if what == "duplicated": return d.iloc[np.r_[0:100, 99:len(d)]]
    if what == "backwards": return d.iloc[np.r_[0:100, 101, 100, 102:len(d)]]
    if what == "10-minute": return d.iloc[:3000].set_axis(pd.date_range("1998-01-01", periods=3000, freq="10min"))
    if what == "empty": return d.iloc[:0]
    if what == "NEE all NaN": return d.assign(NEE=np.nan)
    if what == "Tair in K": return d.assign(Tair=d["Tair"] + 273.15)
    if what.startswith("no "): return d.drop(columns=what[3:])
    raise ValueError(what)


@pytest.mark.parametrize("what,exc,pattern", [
    ("duplicated", TimeAxisError, r"variable 'time': duplicated time stamp 1998-01-03 01:30"),
    ("backwards", TimeAxisError, r"variable 'time': time stamps go backwards at record 101"),
    ("10-minute", TimeAxisError, r"variable 'time': time step 0 days 00:10:00"),
    ("empty", TimeAxisError, r"variable 'time': 0 record\(s\)"),
    ("NEE all NaN", MissingDataError, r"variable 'NEE': no finite value"),
    ("Tair in K", UnitsError, r"variable 'Tair': .*\(K\?\)"),
    ("no Rg", InputError, r"variable 'Rg': column\(s\) \['Rg'\] missing"),
    ("no Ustar", InputError, r"variable 'Ustar': column\(s\) \['Ustar'\] missing"),
])
def test_broken_records(d98, what, exc, pattern):
    raises(exc, "DE-Tha_1998.csv, " + pattern, process_site, _broken(d98, what), *LOC, 1)
