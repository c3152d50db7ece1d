"""What the figures draw: tick labels, distinct colours, no empty panels, masked negatives."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

import saxs
from saxs.models.distributions import Species, spheres_intensity
from saxs_pipelines.config import load_config
from saxs_pipelines.plots import plot_mc, sample_card

matplotlib.use("Agg")


@pytest.fixture
def drawn(monkeypatch):
    """The figures saved during the test (drawn, so tick labels exist)."""
    figures = []
    save = Figure.savefig

    def keep(self, *args, **kwargs):
        figures.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


@pytest.fixture(scope="module")
def fitted():
    q = np.geomspace(0.2, 8, 150)
    truth = spheres_intensity(q, [Species(0.94, 1e-3, 0.03)])
    rng = np.random.default_rng(3)
    sigma = 0.02 * truth + 1e-3  # points near the form-factor minima scatter below zero
    curve = saxs.Curve(q, truth + rng.normal(0, 1, q.size) * sigma, sigma,
                       intensity_unit="1/cm", metadata={"sample": "s"})
    dist = saxs.monte_carlo(curve, saxs.MCConfig(radius_range_nm=(0.3, 4.0), n_rep=2, seed=1))
    return curve, dist


def _labels(ax):
    return [t.get_text() for t in ax.get_xticklabels() if t.get_text()]


def test_sample_card(drawn, fitted, tmp_path):
    curve, dist = fitted
    sample_card(tmp_path / "card.png", curve, {}, dist, None, config=load_config(None))
    ax_i, ax_r, ax_h = drawn[-1].axes
    # the radius axis names several values per decade, in plain numbers
    assert {"0.5", "1", "2"} <= set(_labels(ax_h))
    # so does the q axis (under the residuals), and the intensity axis names its decades
    assert {"0.2", "0.5", "1", "2", "5"} <= set(_labels(ax_r))
    decades = [t.get_text() for t in ax_i.get_yticklabels() if t.get_text()]
    assert len(decades) >= 3
    assert all(text.startswith("10") for text in decades)
    assert "10\u207b\u00b3" in decades  # 10^-3, the fit's plateau
    # data and fit in distinct colours
    data_colour = ax_i.containers[0].lines[0].get_color()
    fit_colour = ax_i.lines[-1].get_color()
    assert to_rgba(data_colour) != to_rgba(fit_colour)
    # points <= 0 are not drawn on the log axis, and the legend says how many
    shown = ax_i.containers[0].lines[0].get_ydata()
    assert np.all(np.asarray(shown) > 0)
    n_bad = int(np.count_nonzero(curve.intensity <= 0))
    assert n_bad > 0
    legend = [t.get_text() for t in ax_i.get_legend().get_texts()]
    assert any(f"{n_bad} points <= 0 not shown" in text for text in legend)
    assert ax_r.lines
    assert len(ax_r.lines[-1].get_xdata()) == dist.q.size


def test_card_without_a_fit_has_no_empty_panel(drawn, fitted, tmp_path):
    curve, _ = fitted
    sample_card(tmp_path / "card.png", curve, {}, None, None, config=load_config(None))
    _, ax_r, _ = drawn[-1].axes
    assert any("no size fit" in t.get_text() for t in ax_r.texts)


def test_mc_figure_follows_the_log_binning(drawn, fitted, tmp_path):
    _, dist = fitted
    hist = dist.histogram(bins=30, scale="log", range_nm=(0.3, 4.0))
    plot_mc(dist, hist, tmp_path / "mc.png", title="s")
    ax_h = drawn[-1].axes[2]
    assert ax_h.get_xscale() == "log"
    assert {"0.5", "1", "2"} <= set(_labels(ax_h))
    linear = dist.histogram(bins=30, scale="linear", range_nm=(0.3, 4.0))
    plot_mc(dist, linear, tmp_path / "mc_lin.png", title="s")
    assert drawn[-1].axes[2].get_xscale() == "linear"


def test_axis_labels_and_bragg_series(drawn, tmp_path):
    from saxs.simulate.models import BraggPeak, FlatBackground, SampleModel
    from saxs_pipelines.plots import axis_label, plot_bragg_series

    assert axis_label("temperature_c") == "temperature (C)"
    assert axis_label("time_s") == "time (s)"
    assert axis_label("sample_order") == "sample order"
    q = np.linspace(0.5, 5, 300)
    curves = []
    for k, height in enumerate((2.0, 0.0)):
        peaks = (BraggPeak(1.84, 0.03, height), BraggPeak(3.68, 0.03, height / 3)) if height \
            else ()
        intensity = SampleModel((*peaks, FlatBackground(0.05))).intensity(q)
        sigma = 0.01 * intensity + 1e-3
        noisy = intensity + np.random.default_rng(k).normal(0, 1, q.size) * sigma
        curves.append(saxs.Curve(q, noisy, sigma, intensity_unit="1/cm"))
    series = saxs.follow_bragg(curves, [25, 100], variable_name="temperature_c")
    plot_bragg_series(series, curves, tmp_path / "bragg.png")
    ax = drawn[-1].axes[0]
    assert "1/cm" in ax.get_ylabel()
    assert len(ax.collections) == 2  # a +-1 sigma band per curve
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0].startswith("temperature (C) 25: lamellar")
