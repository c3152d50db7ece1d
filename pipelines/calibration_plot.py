"""Diagnostic PNG of a geometry calibration (matplotlib imported only when drawing)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def _image_panel(ax, fig, calibration) -> None:
    """The image on a log scale with the fitted rings, the control points and the centre."""
    from matplotlib.colors import LogNorm  # noqa: PLC0415

    from saxs.azimuthal import q_array_nm  # noqa: PLC0415

    geometry = calibration.geometry
    # a large detector is drawn from every step-th pixel (a 4M image and its q contours
    # would take seconds and show no more at ~550 pixels per panel)
    step = max(1, -(-max(geometry.shape) // 700))
    image = np.where(calibration.mask, np.nan, calibration.image.astype(float))[::step, ::step]
    positive = image[np.isfinite(image) & (image > 0)]
    low, high = (np.percentile(positive, [5, 99.9]) if positive.size else (1.0, 10.0))
    extent = (-0.5, image.shape[1] * step - 0.5, -0.5, image.shape[0] * step - 0.5)
    shown = ax.imshow(np.where(image > 0, image, np.nan), origin="lower", cmap="viridis",
                      norm=LogNorm(vmin=max(low, 1e-3), vmax=max(high, 2 * max(low, 1e-3))),
                      interpolation="nearest", extent=extent)
    fig.colorbar(shown, ax=ax, label="counts (log scale)", shrink=0.8)
    used = sorted(r.q_nm for r in calibration.rings)
    q = q_array_nm(geometry)[::step, ::step]
    rows, cols = np.arange(q.shape[0]) * step, np.arange(q.shape[1]) * step
    ax.contour(cols, rows, q, levels=used, colors="white", linewidths=0.6, alpha=0.8)
    cp = calibration.control_points
    ax.scatter(cp[:, 1], cp[:, 0], s=3, c=cp[:, 2], cmap="autumn", marker=".",
               label=f"{cp.shape[0]} control points")
    row, col = calibration.beam_center_px
    ax.plot([col], [row], "r+", ms=12, mew=1.5, label="beam centre")
    ax.set(xlim=(0, geometry.shape[1]), ylim=(0, geometry.shape[0]),
           xlabel="column (pixel)", ylabel="row (pixel)",
           title=f"{calibration.calibrant}: fitted rings (white)")
    ax.legend(loc="upper right", fontsize=7)


def _profile_panel(ax, calibration) -> None:
    """The 1-D curve with the calibrant's expected peaks (red: rings used)."""
    qp, ip = calibration.profile_q_nm, calibration.profile_intensity
    ax.plot(qp, np.where(ip > 0, ip, np.nan), "-", color="C0", lw=0.8,
            label="azimuthal average (refined geometry)")
    used = {round(r.q_nm, 9) for r in calibration.rings}
    expected = [2 * math.pi / d for d in calibration.dspacing_nm]
    in_range = [x for x in expected if qp.size and qp[0] <= x <= qp[-1]]
    for k, x in enumerate(in_range):
        ax.axvline(x, color="C3" if round(x, 9) in used else "0.6", lw=0.7, ls="--",
                   label=("expected peak (red: ring used)" if k == 0 else None))
    ax.set(yscale="log", xlabel="q (1/nm)", ylabel="mean counts per pixel",
           title="1-D curve and the calibrant's peaks")
    ax.legend(fontsize=8)


def _residual_panel(ax, calibration) -> None:
    """Mean and RMS residual in q per ring (open symbols: rings that fixed only the centre
    and tilts, a merged doublet)."""
    rings = calibration.rings
    rq = np.array([r.q_nm for r in rings])
    mean = np.array([r.residual_q_nm for r in rings])
    rms = np.array([r.rms_q_nm for r in rings])
    n = np.array([r.n_points for r in rings])
    floating = np.array([r.floating for r in rings], dtype=bool)
    err = rms / np.sqrt(np.maximum(n, 1)) * 1e3
    ax.errorbar(rq[~floating], mean[~floating] * 1e3, yerr=err[~floating], fmt="o", color="C2",
                ms=4, capsize=2, label="mean (error of the mean)")
    if floating.any():
        ax.errorbar(rq[floating], mean[floating] * 1e3, yerr=err[floating], fmt="o",
                    mfc="none", color="C2", ms=4, capsize=2,
                    label="merged doublet (centre, tilts only)")
    ax.scatter(rq, rms * 1e3, marker="x", color="C1", label="RMS of the points")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="ring q (1/nm)", ylabel="q(points) - q(ring) (1e-3 1/nm)",
           title=f"residuals, RMS {calibration.rms_residual_px:.2f} px")
    ax.legend(fontsize=8)


def plot_calibration(calibration, path: str | Path, overwrite: bool = False) -> Path:
    """Three panels: the image (log scale) with the fitted rings and the control points; the
    1-D curve with the calibrant's expected peaks; the residual per ring in q.

    Written atomically (an existing file is kept unless ``overwrite``).
    """
    from saxs.io.atomic import atomic_path  # noqa: PLC0415
    from saxs_pipelines.plots import pyplot  # noqa: PLC0415

    plt = pyplot()
    fig = plt.figure(figsize=(14, 5), layout="constrained")
    grid = fig.add_gridspec(1, 3, width_ratios=(1.1, 1.3, 1.0))
    ax_img, ax_1d, ax_res = (fig.add_subplot(grid[0, k]) for k in range(3))
    _image_panel(ax_img, fig, calibration)
    _profile_panel(ax_1d, calibration)
    _residual_panel(ax_res, calibration)
    g = calibration.geometry
    row, col = calibration.beam_center_px
    title = (f"{Path(calibration.source).name}: distance {g.distance_m * 1e3:.2f} mm, "
             f"beam centre ({row:.1f}, {col:.1f}) px, rot1 {math.degrees(g.rot1_rad):.3f} "
             f"deg, rot2 {math.degrees(g.rot2_rad):.3f} deg, wavelength "
             f"{g.wavelength_m * 1e9:.5g} nm")
    if calibration.notes:
        title += "\n" + "; ".join(calibration.notes)
    fig.suptitle(title, fontsize=9)
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path
