"""Diagnostic PNG of a geometry calibration (matplotlib imported only when drawing)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np


def plot_calibration(calibration, path: str | Path, overwrite: bool = False) -> Path:
    """Three panels: the image (log scale) with the fitted rings and the control points; the
    1-D curve with the calibrant's expected peaks; the residual per ring in q.

    Written atomically (an existing file is kept unless ``overwrite``).
    """
    from saxs.azimuthal import q_array_nm  # noqa: PLC0415
    from saxs.io.atomic import atomic_path  # noqa: PLC0415
    from saxs_pipelines.plots import _pyplot  # noqa: PLC0415

    plt = _pyplot()
    from matplotlib.colors import LogNorm  # noqa: PLC0415

    geometry = calibration.geometry
    image = np.where(calibration.mask, np.nan, calibration.image.astype(float))
    positive = image[np.isfinite(image) & (image > 0)]
    low, high = (np.percentile(positive, [5, 99.9]) if positive.size else (1.0, 10.0))
    fig = plt.figure(figsize=(14, 5), layout="constrained")
    grid = fig.add_gridspec(1, 3, width_ratios=(1.1, 1.3, 1.0))
    ax_img, ax_1d, ax_res = (fig.add_subplot(grid[0, k]) for k in range(3))
    shown = ax_img.imshow(np.where(image > 0, image, np.nan), origin="lower", cmap="viridis",
                          norm=LogNorm(vmin=max(low, 1e-3), vmax=max(high, 2 * max(low, 1e-3))),
                          interpolation="nearest")
    fig.colorbar(shown, ax=ax_img, label="counts (log scale)", shrink=0.8)
    q = q_array_nm(geometry)
    used = [r.q_nm for r in calibration.rings]
    ax_img.contour(q, levels=sorted(used), colors="white", linewidths=0.6, alpha=0.8)
    cp = calibration.control_points
    ax_img.scatter(cp[:, 1], cp[:, 0], s=3, c=cp[:, 2], cmap="autumn", marker=".",
                   label=f"{cp.shape[0]} control points")
    row, col = calibration.beam_center_px
    ax_img.plot([col], [row], "r+", ms=12, mew=1.5, label="beam centre")
    ax_img.set(xlim=(0, geometry.shape[1]), ylim=(0, geometry.shape[0]),
               xlabel="column (pixel)", ylabel="row (pixel)",
               title=f"{calibration.calibrant}: fitted rings (white)")
    ax_img.legend(loc="upper right", fontsize=7)

    qp, ip = calibration.profile_q_nm, calibration.profile_intensity
    ax_1d.plot(qp, np.where(ip > 0, ip, np.nan), "-", color="C0", lw=0.8,
               label="azimuthal average (refined geometry)")
    expected = [2 * math.pi / d for d in calibration.dspacing_nm]
    in_range = [x for x in expected if qp.size and qp[0] <= x <= qp[-1]]
    for k, x in enumerate(in_range):
        ax_1d.axvline(x, color="C3" if x in used else "0.6", lw=0.7, ls="--",
                      label=("expected peak, ring used" if k == 0 else None))
    ax_1d.set(yscale="log", xlabel="q (1/nm)", ylabel="mean counts per pixel",
              title="1-D curve and the calibrant's peaks")
    ax_1d.legend(fontsize=8)

    rq = np.array([r.q_nm for r in calibration.rings])
    mean = np.array([r.residual_q_nm for r in calibration.rings])
    rms = np.array([r.rms_q_nm for r in calibration.rings])
    n = np.array([r.n_points for r in calibration.rings])
    ax_res.errorbar(rq, mean * 1e3, yerr=rms / np.sqrt(np.maximum(n, 1)) * 1e3, fmt="o",
                    color="C2", ms=4, capsize=2, label="mean (error of the mean)")
    ax_res.scatter(rq, rms * 1e3, marker="x", color="C1", label="RMS of the points")
    ax_res.axhline(0, color="k", lw=0.5)
    ax_res.set(xlabel="ring q (1/nm)", ylabel="q(points) - q(ring) (1e-3 1/nm)",
               title=f"residuals, RMS {calibration.rms_residual_px:.2f} px")
    ax_res.legend(fontsize=8)
    g = geometry
    fig.suptitle(f"{Path(calibration.source).name}: distance {g.distance_m * 1e3:.2f} mm, "
                 f"beam centre ({row:.1f}, {col:.1f}) px, rot1 {math.degrees(g.rot1_rad):.3f} "
                 f"deg, rot2 {math.degrees(g.rot2_rad):.3f} deg, wavelength "
                 f"{g.wavelength_m * 1e9:.5g} nm", fontsize=10)
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path
