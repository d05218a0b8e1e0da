"""The README's figure: MEGA on the atmosphere twin, January's natural CO2 flux as the truth, the prior and the
posterior, from the demo's MEGA run (`make demo` first). Writes nbs/results/readme/figure.png.

    .venv/bin/python tools/readme_figure.py [out/demo/mega-defaults]
"""
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import cartopy.crs as ccrs
import matplotlib.pyplot as plt
import xarray as xr

from carbonflux_nb.maps import plot_map

ROOT = Path(__file__).resolve().parents[1]
run = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "out" / "demo" / "mega-defaults"
src = run / "natural_flux.nc"
if not src.is_file(): sys.exit(f"{src} not found: run `make demo` first (or give the MEGA run's folder)")
with xr.open_dataset(src) as ds: ds = ds.isel(time=0).load()
units = ds.post.attrs.get("units", "")
lim = float(max(abs(ds[v]).quantile(0.98) for v in ("truth", "prior", "post")))
fig, axes = plt.subplots(1, 3, figsize=(12, 3.1), subplot_kw={"projection": ccrs.PlateCarree()}, layout="constrained")
for ax, (v, name) in zip(axes, [("truth", "truth (the twin)"), ("prior", "prior"), ("post", "MEGA posterior")]):
    da = ds[v].assign_attrs(long_name="natural CO2 flux", units=units)
    plot_map(da, ax=ax, cmap="RdBu_r", vmin=-lim, vmax=lim, title=f"{name}, January 2018", colorbar=ax is axes[-1])
dest = ROOT / "nbs" / "results" / "readme" / "figure.png"
dest.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(dest, dpi=80)
print(dest, f"{dest.stat().st_size / 1e3:.0f} kB")
