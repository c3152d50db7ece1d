"""PNG figures. matplotlib is imported here only, and only when a figure is drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def plot_mc(dist, hist, path: Path, title: str = "") -> Path:
    """Data with the mean fit and residuals; the histogram with error bars and observability."""
    plt = _pyplot()
    fig = plt.figure(figsize=(11, 4.8), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=(3, 1))
    ax_i = fig.add_subplot(grid[0, 0])
    ax_r = fig.add_subplot(grid[1, 0], sharex=ax_i)
    ax_h = fig.add_subplot(grid[:, 1])
    model, _ = dist.model_mean
    ax_i.errorbar(dist.q, dist.intensity, dist.sigma, fmt=".", ms=3, lw=0.6, label="data")
    ax_i.plot(dist.q, model, "r-", lw=1, label="Monte Carlo fit (mean)")
    ax_i.set(xscale="log", yscale="log", ylabel=f"I ({dist.intensity_unit})", title=title)
    ax_i.legend(fontsize=8)
    ax_r.plot(dist.q, (dist.intensity - model) / dist.sigma, ".", ms=3)
    ax_r.axhline(0, color="k", lw=0.5)
    ax_r.set(xlabel="q (1/nm)", ylabel="(I - fit) / sigma")
    centers = hist.bin_centers_nm
    widths = np.diff(hist.bin_edges_nm)
    ax_h.bar(centers, hist.values, width=widths, yerr=hist.values_std, alpha=0.7,
             error_kw={"lw": 0.7}, label=f"{hist.weighting}-weighted")
    if hist.weighting == "volume":
        ax_h.plot(centers, hist.observability, "r_", ms=8, label="observability limit")
    scale = hist.bin_edges_nm[-1] / hist.bin_edges_nm[0]
    ax_h.set(xscale="log" if scale > 20 else "linear", xlabel="radius (nm)",
             ylabel="volume fraction" if hist.weighting == "volume" else "number fraction")
    mean, std = hist.moments["mean_nm"]
    phi, phi_std = hist.moments["total_volume_fraction"]
    ax_h.set_title(f"mean R {mean:.3g} +- {std:.2g} nm, phi {phi:.3g} +- {phi_std:.2g}",
                   fontsize=9)
    ax_h.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
