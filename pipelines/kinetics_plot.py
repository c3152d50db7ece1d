"""PNG of a kinetics: species volume fractions vs time with error bars and the fitted models."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from saxs_pipelines.plots import MARGINS, panels, pyplot

COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink")


def _label(s) -> str:
    family = f", {s.family}" if s.family else ""
    return f"{s.name}: r = {s.radius_nm:.3f} nm{family}"


def _discrete_panel(ax, result) -> None:
    fit = result.rate_fit
    fine = np.linspace(result.time_s[0], result.time_s[-1], 400)
    model = fit.fractions(fine) if fit is not None else None
    discrete = [s for s in result.species if s.kind != "continuous"]
    for k, s in enumerate(discrete):
        colour = COLOURS[k % len(COLOURS)]
        found = s.present
        ax.errorbar(s.time_s[found], s.volume_fraction[found] * 1e3,
                    s.volume_fraction_err[found] * 1e3, fmt="o", ms=4, lw=0.8, capsize=2,
                    color=colour, label=_label(s))
        if (~found).any():
            ax.errorbar(s.time_s[~found], s.volume_fraction[~found] * 1e3,
                        s.volume_fraction_err[~found] * 1e3, fmt="o", ms=4, lw=0.8,
                        capsize=2, color=colour, mfc="none")
        if model is not None and s.name in fit.species:
            ax.plot(fine, model[fit.species.index(s.name)] * 1e3, "-", color=colour, lw=1.2)
    title = "discrete species"
    if fit is not None:
        rates = ", ".join(
            f"k{i + 1} = {v:.3g} +- {e:.2g} 1/s" if e is not None else f"k{i + 1} = {v:.3g} 1/s"
            for i, (v, e) in enumerate(zip(fit.rate_per_s, fit.rate_err_per_s, strict=True)))
        title = f"{fit.model} (lines: first-order fit): {rates}"
    ax.set(xlabel="time (s)", ylabel="volume fraction (x 1e-3)", title=title)
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8, title="open: not found, window value", title_fontsize=7)


def _growth_panel(ax, result, growth) -> None:
    k = len(result.species) - 1
    colour = COLOURS[k % len(COLOURS)]
    ax.errorbar(growth.time_s, growth.volume_fraction * 1e3, growth.volume_fraction_err * 1e3,
                fmt="s", ms=4, lw=0.8, capsize=2, color=colour,
                label=f"{growth.name}: continuous growth (all volume above the clusters)")
    onset = result.onset
    if onset is not None:
        fine = np.linspace(growth.time_s[0], growth.time_s[-1], 400)
        ax.plot(fine, onset.growth_per_s * np.maximum(fine - onset.time_s, 0) * 1e3, "-",
                color=colour, lw=1.2, label="fit g max(t - t_onset, 0)")
        ax.axvline(onset.time_s, color="k", lw=0.8, ls="--",
                   label=f"onset {onset.time_s:.3g} +- {onset.time_err_s or float('nan'):.2g} s")
        if onset.time_err_s:
            ax.axvspan(onset.time_s - onset.time_err_s, onset.time_s + onset.time_err_s,
                       color="0.8", alpha=0.6)
    ax.set(xlabel="time (s)", ylabel="volume fraction (x 1e-3)",
           title="onset of continuous growth")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)


def plot_kinetics(result, path: Path, title: str = "", *, overwrite: bool = False) -> Path:
    """Left: each discrete species' volume fraction vs time with error bars and the fitted
    sequential model; right (when found): the continuous growth and its onset. Written
    atomically; an existing file needs ``overwrite``."""
    from saxs.io.atomic import atomic_path  # noqa: PLC0415

    plt = pyplot()
    growth = next((s for s in result.species if s.kind == "continuous"), None)
    ncols = 2 if growth is not None else 1
    left, right, top, bottom = MARGINS
    fig, axes = panels(plt, (5.5 * ncols, 4.4), 1, ncols,
                       margins=(left, right, top + (0.3 if title else 0.0), bottom))
    _discrete_panel(axes[0], result)
    if growth is not None:
        _growth_panel(axes[1], result, growth)
    if title:
        fig.suptitle(title, fontsize=10)
    try:
        with atomic_path(path, overwrite=overwrite) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)
    return Path(path)
