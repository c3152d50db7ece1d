"""PNG figures. matplotlib is imported here only, and only when a figure is drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib's pyplot on the Agg backend (imported on first use)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


#: Figure margins in inches (left, right, top, bottom) and the gaps between panels (inches,
#: horizontal then vertical): room for log tick labels, axis labels and a title. A fixed
#: layout: matplotlib's constrained layout measured every text of a figure again at each
#: save (~0.3-0.7 s a figure, a third of a sample's analysis).
MARGINS = (0.95, 0.25, 0.45, 0.6)
GAPS = (1.0, 0.12)


def _grid(fig, nrows: int, ncols: int, *, gaps: tuple[float, float] = GAPS,
          margins: tuple[float, float, float, float] = MARGINS, **kwargs):
    """A gridspec filling ``fig`` within ``margins`` with ``gaps`` between panels (inches)."""
    width, height = fig.get_size_inches()
    left, right, top, bottom = margins
    inner_w = width - left - right - gaps[0] * (ncols - 1)
    inner_h = height - top - bottom - gaps[1] * (nrows - 1)
    return fig.add_gridspec(nrows, ncols, left=left / width, right=1 - right / width,
                            top=1 - top / height, bottom=bottom / height,
                            wspace=gaps[0] * ncols / inner_w, hspace=gaps[1] * nrows / inner_h,
                            **kwargs)


def panels(plt, size: tuple[float, float], nrows: int = 1, ncols: int = 1, **kwargs):
    """``plt.subplots`` on the fixed layout of :func:`_grid` (axes as a flat list)."""
    fig = plt.figure(figsize=size)
    grid = _grid(fig, nrows, ncols, **kwargs)
    return fig, [fig.add_subplot(grid[r, c]) for r in range(nrows) for c in range(ncols)]


def _curve_and_histogram_axes(plt, height: float):
    """Figure with I(q) (top left), residuals (bottom left, shared q) and a histogram (right)."""
    fig = plt.figure(figsize=(11, height))
    grid = _grid(fig, 2, 2, height_ratios=(3, 1))
    ax_i = fig.add_subplot(grid[0, 0])
    ax_r = fig.add_subplot(grid[1, 0], sharex=ax_i)
    ax_i.tick_params(labelbottom=False)
    return fig, ax_i, ax_r, fig.add_subplot(grid[:, 1])


def plot_mc(dist, hist, path: Path, title: str = "") -> Path:
    """Data with the mean fit and residuals; the histogram with error bars and observability."""
    plt = pyplot()
    fig, ax_i, ax_r, ax_h = _curve_and_histogram_axes(plt, height=4.8)
    model, _ = dist.model_mean
    (q, intensity, sigma), hidden = _positive(dist.q, dist.intensity, dist.sigma)
    note = f" ({hidden} points <= 0 not shown)" if hidden else ""
    ax_i.errorbar(q, intensity, sigma, fmt=".", ms=3, lw=0.6, color="k", ecolor="0.6",
                  label="data" + note)
    ax_i.plot(dist.q, model, "-", color="tab:red", lw=1.2, label="Monte Carlo fit (mean)")
    ax_i.set(ylabel=f"I ({dist.intensity_unit})")
    log_axes(ax_i)
    _title(ax_i, title)
    ax_i.legend(fontsize=8)
    ax_r.plot(dist.q, (dist.intensity - model) / dist.sigma, ".", ms=3, color="k")
    ax_r.axhline(0, color="k", lw=0.5)
    ax_r.set(xlabel="q (1/nm)", ylabel="(I - fit) / sigma")
    centers = hist.bin_centers_nm
    widths = np.diff(hist.bin_edges_nm)
    ax_h.bar(centers, hist.values, width=widths, yerr=hist.values_std, alpha=0.7,
             error_kw={"lw": 0.7}, label=f"{hist.weighting}-weighted")
    if hist.weighting == "volume":
        ax_h.plot(centers, hist.observability, "r_", ms=8, label="observability limit")
    ax_h.set(xlabel="radius (nm)",
             ylabel="volume fraction" if hist.weighting == "volume" else "number fraction")
    edges = hist.bin_edges_nm
    if not np.allclose(np.diff(edges), edges[1] - edges[0]):  # log bins: a log axis
        _plain_log_x(ax_h)
    mean, std = hist.moments["mean_nm"]
    phi, phi_std = hist.moments["total_volume_fraction"]
    _title(ax_h, f"mean R {mean:.3g} +- {std:.2g} nm, phi {phi:.3g} +- {phi_std:.2g}",
           fontsize=9)
    ax_h.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _histogram(dist, settings: dict):
    rng = settings.get("range_nm")
    return dist.histogram(bins=settings.get("bins", 40), scale=settings.get("scale", "log"),
                          range_nm=tuple(rng) if rng else None, weighting="volume")


def _plain_log_x(ax) -> None:
    """Log x axis (radius, q) labelled in plain numbers at 1, 2, 3, 5 x each decade (0.3, 0.5, 1, 2
    ...), so that a reader tells 0.87 from 0.94 nm; minor ticks at every integer x decade."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: PLC0415

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0)))
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=tuple(range(1, 10))))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076"
                             "\u2077\u2078\u2079")


def _power_of_ten(value: float, _pos=None) -> str:
    """A decade as 10 with a superscript exponent in plain text (no mathtext to lay out)."""
    exponent = round(np.log10(value)) if value > 0 else 0
    return "10" + str(exponent).translate(_SUPERSCRIPT)


def _decades_log_y(ax) -> None:
    """Log y axis labelled at each decade (10⁻³ ...) in plain text, unlabelled minor ticks at
    2 and 5 x each decade (an intensity axis spans many decades: eight minor ticks a decade
    crowd it, and each tick is drawn at a cost)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: PLC0415

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, numticks=12))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0), numticks=12))
    ax.yaxis.set_major_formatter(FuncFormatter(_power_of_ten))
    ax.yaxis.set_minor_formatter(NullFormatter())


def log_axes(ax) -> None:
    """Log q (plain numbers, :func:`_plain_log_x`) and log intensity (:func:`_decades_log_y`)."""
    _plain_log_x(ax)
    _decades_log_y(ax)


def _title(ax, text: str, **kwargs) -> None:
    """An axes title at a fixed height: matplotlib otherwise measures every tick label of the
    figure at each save to place it (a fifth of a sample card's drawing)."""
    ax.set_title(text, y=1.0, pad=6.0, **kwargs)


def _positive(q, intensity, sigma=None):
    """The points a log intensity axis can show, and how many it cannot."""
    keep = intensity > 0
    out = (q[keep], intensity[keep]) + (() if sigma is None else (sigma[keep],))
    return out, int(np.count_nonzero(~keep))


#: Unit suffixes of sample-sheet columns and how an axis label writes them.
UNIT_SUFFIXES = {"_c": "C", "_k": "K", "_s": "s", "_min": "min", "_h": "h", "_nm": "nm",
                 "_mm": "mm", "_pct": "%", "_wtp": "wt %", "_mol_l": "mol/L", "_ul_min": "uL/min"}


def axis_label(column: str) -> str:
    """A sheet column as an axis label: ``temperature_c`` -> "temperature (C)"."""
    for suffix, unit in sorted(UNIT_SUFFIXES.items(), key=lambda item: -len(item[0])):
        if column.lower().endswith(suffix) and len(column) > len(suffix):
            return f"{column[: -len(suffix)].replace('_', ' ')} ({unit})"
    return column.replace("_", " ")


def plot_series(findings, dists, path: Path, hist_settings: dict) -> Path:
    """Waterfall of volume fraction vs radius (offset curves) and population radius tracks."""
    plt = pyplot()
    fig, (ax_w, ax_t) = panels(plt, (12, 6), 1, 2)
    fine = {**hist_settings, "bins": findings.settings.get("bins", hist_settings.get("bins"))}
    hists = [_histogram(d, fine) for d in dists]
    step = max(float(h.volume_fraction.max()) for h in hists) * 1.05 or 1.0
    for k, (h, v) in enumerate(zip(hists, findings.variable, strict=True)):
        offset = k * step
        ax_w.fill_between(h.bin_centers_nm, offset, offset + h.volume_fraction, step="mid",
                          alpha=0.5)
        ax_w.step(h.bin_centers_nm, offset + h.volume_fraction, where="mid", color="k", lw=0.5)
        ax_w.text(h.bin_edges_nm[-1], offset, f"{v:g}", fontsize=8, va="bottom", ha="right")
    ax_w.set(xlabel="radius (nm)", yticks=[],
             ylabel=f"volume fraction per bin, offset ({axis_label(findings.variable_name)})")
    _title(ax_w, "size distributions")
    _plain_log_x(ax_w)
    styles = {"quantized": ("o", "-"), "continuous": ("s", "--"), "other": ("x", ":")}
    labelled = set()
    for track in findings.tracks:
        marker, line = styles[track.kind]
        label = track.kind if track.kind not in labelled else None
        labelled.add(track.kind)
        x = [p.variable for p in track.points]
        y = [p.radius_nm for p in track.points]
        ax_t.errorbar(x, y, yerr=[p.width_nm for p in track.points], fmt=marker + line,
                      capsize=3, label=label)
        if track.family is not None:
            ax_t.annotate(track.family.family.name, (x[-1], y[-1]), textcoords="offset points",
                          xytext=(6, 4), fontsize=8)
    for event in findings.events:
        ax_t.axvline(0.5 * (event.variable_from + event.variable_to), color="grey", lw=0.6,
                     ls=":")
    ax_t.set(xlabel=axis_label(findings.variable_name),
             ylabel="population radius (nm), bars: width")
    _title(ax_t, "populations (dotted: events)" if findings.tracks else "no population found")
    if labelled:
        ax_t.legend(fontsize=8)
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)
    return path


def plot_bragg_series(series, curves, path: Path) -> Path:
    """I(q) of every member (offset by decades) with the Bragg peaks marked."""
    plt = pyplot()
    fig, (ax,) = panels(plt, (7, 6))
    name = axis_label(series.variable_name)
    for k, (point, curve) in enumerate(zip(series.points, curves, strict=True)):
        factor = 10.0 ** (-k)
        (q, intensity, sigma), hidden = _positive(curve.q, curve.intensity, curve.sigma)
        note = f", {hidden} points <= 0 not shown" if hidden else ""
        line, = ax.plot(q, intensity * factor, lw=1,
                        label=f"{name} {point.variable:g}: {point.findings.phase}{note}")
        low = np.clip(intensity - sigma, intensity * 1e-3, None)  # +-1 sigma band, log-safe
        ax.fill_between(q, low * factor, (intensity + sigma) * factor, color=line.get_color(),
                        alpha=0.25, lw=0)
        for peak in point.findings.peaks:
            ax.plot(peak.q, np.interp(peak.q, curve.q, curve.intensity) * factor * 1.4, "v",
                    color=line.get_color(), ms=7)
    unit = curves[0].intensity_unit if curves else ""
    ax.set(xlabel="q (1/nm)", ylabel=f"I ({unit}), offset by decades; bands: +-1 sigma")
    log_axes(ax)
    _title(ax, "Bragg peaks (triangles)")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)
    return path


def _card_curves(ax, signal, blanks, dist) -> None:
    labels = {"sample": "sample (reduced)", "solvent": "solvent", "empty_cell": "empty cell"}
    for key, curve in blanks.items():
        if curve is not None:
            ax.plot(curve.q, curve.intensity, lw=0.8, label=labels[key])
    (q, intensity, sigma), hidden = _positive(signal.q, signal.intensity, signal.sigma)
    note = f" ({hidden} points <= 0 not shown)" if hidden else ""
    ax.errorbar(q, intensity, sigma, fmt=".", ms=2, lw=0.5, color="k", ecolor="0.6",
                label="blank-subtracted" + note)
    if dist is not None:
        model, _ = dist.model_mean
        ax.plot(dist.q, model, "-", color="tab:red", lw=1.2, label="Monte Carlo fit")
    ax.set(ylabel=f"I ({signal.intensity_unit})")
    log_axes(ax)
    ax.legend(fontsize=7)


def sample_card(path, signal, blanks, dist, bragg, *, config, overwrite: bool = False) -> Path:
    """One PNG per sample: I(q) with blanks and fit, residuals, histogram with moments."""
    from saxs.io.atomic import atomic_path  # noqa: PLC0415

    plt = pyplot()
    fig, ax_i, ax_r, ax_h = _curve_and_histogram_axes(plt, height=5.0)
    _card_curves(ax_i, signal, blanks, dist)
    _title(ax_i, str(signal.metadata.get("sample", "")))
    ax_r.set(xlabel="q (1/nm)", ylabel="(I - fit) / sigma")
    ax_r.axhline(0, color="k", lw=0.5)
    if dist is None:  # nothing was fitted: no residuals to show
        ax_r.set(ylabel="")
        ax_r.set_yticks([])
        ax_r.text(0.5, 0.5, "no size fit for this sample (Bragg analysis only)",
                  transform=ax_r.transAxes, ha="center", va="center", fontsize=8, color="0.4")
    if dist is not None:
        model, _ = dist.model_mean
        ax_r.plot(dist.q, (dist.intensity - model) / dist.sigma, ".", ms=2, color="k")
        hist = _histogram(dist, config["histogram"])
        ax_h.bar(hist.bin_centers_nm, hist.volume_fraction, width=np.diff(hist.bin_edges_nm),
                 yerr=hist.volume_fraction_std, alpha=0.7, error_kw={"lw": 0.7},
                 label="volume-weighted")
        ax_h.plot(hist.bin_centers_nm, hist.observability, "r_", ms=8,
                  label="observability limit")
        m = hist.moments
        ax_h.set(xlabel="radius (nm)", ylabel="volume fraction")
        _plain_log_x(ax_h)
        _title(ax_h, f"mean R {m['mean_nm'][0]:.3g} +- {m['mean_nm'][1]:.2g} nm, phi "
               f"{m['total_volume_fraction'][0]:.3g}, chi2_r {dist.chi2_r.mean():.2f}",
               fontsize=9)
        ax_h.legend(fontsize=8)
    if bragg is not None:
        for peak in bragg.peaks:
            ax_i.axvline(peak.q, color="m", lw=0.6, ls="--")
        d = f", d = {bragg.d_spacing_nm:.3f} nm" if bragg.d_spacing_nm else ""
        _title(ax_i, f"{signal.metadata.get('sample', '')}: Bragg {bragg.phase}{d}")
        if dist is None:
            ax_h.axis("off")
            ax_h.text(0.05, 0.9, "\n".join(
                f"q = {p.q:.4f} +- {p.q_err:.4f} 1/nm, FWHM {p.fwhm:.3f}, {p.significance:.0f} "
                "sigma" for p in bragg.peaks) or "no Bragg peak", transform=ax_h.transAxes,
                va="top", fontsize=9)
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return Path(path)


def plot_fit(curve, fit, path, *, title: str = "", overwrite: bool = False) -> Path:
    """Data with the fitted model (log axes) and the residuals in units of sigma.

    Points with I <= 0 cannot be drawn on a log axis: they are left out of the top panel and
    counted in its legend (they are fitted and shown in the residuals).
    """
    from saxs.io.atomic import atomic_path  # noqa: PLC0415

    plt = pyplot()
    model = fit.model_curve
    data = curve.select(model.q[0], model.q[-1]) if len(curve) != len(model) else curve
    unit = data.intensity_unit
    fig = plt.figure(figsize=(7, 6))
    grid = _grid(fig, 2, 1, height_ratios=(3, 1))
    ax_i = fig.add_subplot(grid[0, 0])
    ax_r = fig.add_subplot(grid[1, 0], sharex=ax_i)
    ax_i.tick_params(labelbottom=False)
    positive = data.intensity > 0
    n_hidden = int((~positive).sum())
    hidden = f"; {n_hidden} points with I <= 0 not shown" if n_hidden else ""
    ax_i.errorbar(data.q[positive], data.intensity[positive], data.sigma[positive], fmt="o",
                  ms=2.5, lw=0.6, color="tab:blue", ecolor="tab:gray",
                  label=f"data ({len(data)} points{hidden})")
    label = "fit (resolution-smeared)" if fit.smeared else "fit"
    ax_i.plot(model.q, model.intensity, "-", lw=1.4, color="tab:red", zorder=3,
              label=f"{label}, chi2_r = {fit.chi2_r:.3g}")
    ax_i.set(ylabel=f"I ({unit})")
    log_axes(ax_i)
    _title(ax_i, title)
    ax_i.legend(fontsize=8)
    residual = (data.intensity - model.intensity) / data.sigma
    ax_r.plot(data.q, residual, "o", ms=2.5, color="tab:blue")
    ax_r.axhline(0, color="k", lw=0.6)
    for level in (-3, 3):
        ax_r.axhline(level, color="tab:gray", lw=0.5, ls="--")
    ax_r.set(xlabel="q (1/nm)", ylabel="(I - fit) / sigma")
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
