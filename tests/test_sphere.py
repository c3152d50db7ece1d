"""Sphere kernels against their numpy twins (1e-12) and closed forms (1e-9)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from saxs_kernels import sphere
from tests import naive

FIRST_ZERO = 4.493409457909064  # first positive root of tan x = x


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def _random_x(rng, n=100_000):
    """Uniform and log-uniform points in [1e-6, 200]."""
    uniform = rng.uniform(1e-6, 200.0, n)
    log_uniform = np.exp(rng.uniform(math.log(1e-6), math.log(200.0), n))
    return np.concatenate([uniform, log_uniform])


@pytest.fixture(scope="module")
def random_amplitudes():
    """x, kernel F(x), twin F(x) and the envelope min(1, 3/x^2) of |F|."""
    x = _random_x(np.random.default_rng(7))
    return x, sphere.sphere_amplitude(x), naive.sphere_amplitude(x), \
        naive.sphere_amplitude_envelope(x)


def test_amplitude_matches_twin_on_random_x(random_amplitudes):
    x, got, want, envelope = random_amplitudes
    # Near a zero of F only an absolute error (relative to the envelope of |F|) is meaningful.
    assert np.all(np.abs(got - want) <= 1e-12 * np.abs(want) + 1e-12 * envelope)
    before_first_zero = x <= 4.4
    np.testing.assert_allclose(got[before_first_zero], want[before_first_zero], rtol=1e-12,
                               atol=0)


def test_amplitude_meets_stated_accuracy(random_amplitudes):
    x, got, want, envelope = random_amplitudes
    assert np.max(np.abs(got - want) / envelope) < 1e-15
    small = x <= 4.4
    assert np.max(np.abs(got[small] / want[small] - 1.0)) < 1e-15


def test_form_factor_matches_twin(random_amplitudes):
    x, amplitude, _, envelope = random_amplitudes
    got = sphere.sphere_form_factor(x)
    want = naive.sphere_form_factor(x)
    assert np.all(np.abs(got - want) <= 1e-12 * want + 1e-12 * envelope**2)
    np.testing.assert_array_equal(got, amplitude**2)


def test_amplitude_around_taylor_threshold():
    t = sphere.TAYLOR_THRESHOLD
    offsets = np.logspace(-16, -1, 200)
    x = np.concatenate([t - offsets, t + offsets, [t, np.nextafter(t, 0.0), np.nextafter(t, 2.0)]])
    got = sphere.sphere_amplitude(x)
    np.testing.assert_allclose(got, naive.sphere_amplitude(x), rtol=1e-12, atol=0)
    below = sphere.sphere_amplitude(np.array([np.nextafter(t, 0.0)]))[0]
    above = sphere.sphere_amplitude(np.array([t]))[0]
    assert abs(below - above) < 1e-15


def test_amplitude_special_values():
    x = np.array([0.0, -0.0, FIRST_ZERO, math.pi, 2.0 * math.pi, -2.5, 2.5])
    f = sphere.sphere_amplitude(x)
    assert f[0] == 1.0
    assert f[1] == 1.0
    assert abs(f[2]) < 1e-15
    # sin(pi) = 0, cos(pi) = -1: F(pi) = 3/pi^2; F(2 pi) = -3/(4 pi^2).
    assert f[3] == pytest.approx(3.0 / math.pi**2, rel=1e-9)
    assert f[4] == pytest.approx(-3.0 / (4.0 * math.pi**2), rel=1e-9)
    assert f[5] == f[6]  # F is even


def test_amplitude_small_x_limit():
    x = np.logspace(-6, math.log10(0.05), 100)
    series = 1.0 - x**2 / 10.0 + x**4 / 280.0 - x**6 / 15120.0
    # The first omitted term, x^8/1330560, is < 3e-17 at x = 0.05.
    np.testing.assert_allclose(sphere.sphere_amplitude(x), series, rtol=1e-15, atol=0)


def test_amplitude_closed_form_above_threshold():
    x = np.linspace(1.0, 60.0, 500)
    closed = 3.0 * (np.sin(x) - x * np.cos(x)) / x**3
    np.testing.assert_allclose(sphere.sphere_amplitude(x), closed, rtol=1e-9,
                               atol=1e-9 * naive.sphere_amplitude_envelope(x).min())


def test_into_variants_write_same_values(rng):
    x = _random_x(rng, 1000)
    out = np.full_like(x, np.nan)
    sphere.sphere_amplitude_into(x, out)
    np.testing.assert_array_equal(out, sphere.sphere_amplitude(x))
    sphere.sphere_form_factor_into(x, out)
    np.testing.assert_array_equal(out, sphere.sphere_form_factor(x))


def test_polydisperse_matches_twin(rng):
    q = np.logspace(-2, 1, 300)
    radius = rng.uniform(0.3, 10.0, 50)
    weight = rng.random(50)
    weight /= weight.sum()
    got = sphere.polydisperse_sphere_intensity(q, radius, weight)
    np.testing.assert_allclose(got, naive.polydisperse_sphere_intensity(q, radius, weight),
                               rtol=1e-12, atol=0)
    out = np.full_like(q, np.nan)
    sphere.polydisperse_sphere_intensity_into(q, radius, weight, out)
    np.testing.assert_array_equal(out, got)


def test_polydisperse_of_one_sphere_is_volume_times_form_factor():
    q = np.linspace(0.0, 8.0, 101)
    radius = 1.3
    volume = 4.0 / 3.0 * math.pi * radius**3
    closed = np.ones_like(q)
    nonzero = q > 0
    x = q[nonzero] * radius
    closed[nonzero] = (3.0 * (np.sin(x) - x * np.cos(x)) / x**3) ** 2
    got = sphere.polydisperse_sphere_intensity(q, np.array([radius]), np.array([0.25]))
    np.testing.assert_allclose(got, 0.25 * volume * closed, rtol=1e-9, atol=1e-12 * volume)


def test_polydisperse_with_no_radii_is_zero():
    q = np.linspace(0.1, 1.0, 5)
    got = sphere.polydisperse_sphere_intensity(q, np.empty(0), np.empty(0))
    np.testing.assert_array_equal(got, np.zeros(5))


def test_add_sphere_intensity_accumulates_and_removes(rng):
    q = np.logspace(-2, 1, 200)
    radius = rng.uniform(0.5, 5.0, 10)
    weight = rng.random(10)
    total = np.zeros_like(q)
    for r, w in zip(radius, weight, strict=True):
        sphere.add_sphere_intensity(q, r, w, total)
    want = naive.polydisperse_sphere_intensity(q, radius, weight)
    np.testing.assert_allclose(total, want, rtol=1e-12, atol=0)
    # Replace contribution 0 by a new radius, as a Monte Carlo step does.
    sphere.add_sphere_intensity(q, radius[0], -weight[0], total)
    sphere.add_sphere_intensity(q, 2.2, weight[0], total)
    radius[0] = 2.2
    np.testing.assert_allclose(total, naive.polydisperse_sphere_intensity(q, radius, weight),
                               rtol=1e-12, atol=0)
