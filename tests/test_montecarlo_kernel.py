"""The compiled Monte Carlo chain: pieces against naive twins, determinism, convergence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from saxs.models import form_factor
from saxs.models.table import form_factor_table
from saxs_kernels import montecarlo as mc
from tests import naive


def _table(q, size_range=(0.3, 5.0)):
    return form_factor_table("sphere", q, size_range)


def test_table_contribution_matches_its_naive_twin():
    q = np.geomspace(0.05, 10, 200)
    table = _table(q)
    out = np.empty_like(q)
    for size in (0.3, 0.31234, 1.3, 4.999, 5.0):
        mc.table_contribution(table.values, table.ln_s0, 1 / table.step, size, out)
        want = naive.table_contribution(table.values, table.ln_s0, table.step, size)
        np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_table_contribution_is_volume_times_form_factor():
    """Interpolated K against the closed form: within 1e-5 of the envelope V min(1, 9/x^4)."""
    q = np.geomspace(0.05, 10, 200)
    table = _table(q)
    out = np.empty_like(q)
    for size in np.geomspace(0.3, 5.0, 37):
        mc.table_contribution(table.values, table.ln_s0, 1 / table.step, size, out)
        volume = 4 / 3 * math.pi * size**3
        exact = volume * naive.sphere_amplitude(q * size) ** 2
        envelope = volume * np.minimum(1.0, 9.0 / (q * size) ** 4)
        assert np.max(np.abs(out - exact) / envelope) < 1e-5


@pytest.mark.parametrize(("b_lo", "b_hi"), [(-5.0, 5.0), (0.0, 5.0), (0.3, 0.3), (-1e-3, 1e-3)])
def test_scale_background_solve_matches_bounded_lsq(b_lo, b_hi):
    rng = np.random.default_rng(3)
    for _ in range(20):
        model = rng.uniform(0.1, 10, 60)
        truth_b = rng.uniform(-1, 1)
        intensity = rng.uniform(-0.5, 2) * model + truth_b + rng.normal(0, 0.1, 60)
        weight = rng.uniform(0.5, 2, 60)
        sums = (weight.sum(), (weight * intensity).sum(), (weight * intensity**2).sum(),
                (weight * model).sum(), (weight * model**2).sum(),
                (weight * model * intensity).sum())
        a, b, chi2 = mc.solve_scale_background(*sums, b_lo, b_hi)
        a_ref, b_ref = naive.solve_scale_background(model, intensity, weight, b_lo, b_hi)
        chi2_ref = float(np.sum(weight * (intensity - a_ref * model - b_ref) ** 2))
        assert a >= 0
        assert b_lo <= b <= b_hi
        assert chi2 == pytest.approx(float(np.sum(weight * (intensity - a * model - b) ** 2)),
                                     rel=1e-9)
        assert chi2 <= chi2_ref * (1 + 1e-9) + 1e-12
        assert a == pytest.approx(a_ref, rel=1e-6, abs=1e-9)
        assert b == pytest.approx(b_ref, rel=1e-6, abs=1e-9)


def test_rng_is_uniform_and_seeded():
    state = np.array([mc.splitmix64(np.uint64(7)) | np.uint64(1)], dtype=np.uint64)
    draws = np.array([mc.next_uniform(state) for _ in range(20000)])
    assert draws.min() >= 0
    assert draws.max() < 1
    assert draws.mean() == pytest.approx(0.5, abs=4 / math.sqrt(12 * draws.size))
    counts = np.histogram(draws, 10, (0, 1))[0]
    chi2 = np.sum((counts - 2000) ** 2 / 2000)
    assert chi2 < 30  # 9 degrees of freedom: p ~ 4e-4
    radii = [mc.draw_radius(state, 0.5, 5.0, True) for _ in range(20000)]
    logs = np.log(radii)
    assert np.mean(logs) == pytest.approx(0.5 * (np.log(0.5) + np.log(5.0)), abs=0.02)


def _synthetic(seed=0):
    q = np.geomspace(0.1, 6, 80)
    model = form_factor("sphere").intensity(q, [0.9, 1.0, 1.1]).sum(axis=0)
    rng = np.random.default_rng(seed)
    intensity = 1e-3 * model + 0.01
    sigma = 0.02 * intensity
    return q, intensity + rng.normal(0, 1, q.size) * sigma, sigma


def _run(q, intensity, sigma, n_rep=4, seed=5, max_iter=50_000):
    mean_i = abs(intensity.mean())
    return mc.run_repetitions(_table(q), intensity=intensity, weight=1 / sigma**2,
                              radius_range=(0.3, 5.0), log_random=True, n_contrib=100,
                              n_rep=n_rep, max_iter=max_iter, conv_crit=1.0,
                              background_bounds=(-mean_i, mean_i), seed=seed)


def test_chain_converges_and_model_sum_is_consistent():
    q, intensity, sigma = _synthetic()
    radii, models, stats = _run(q, intensity, sigma)
    assert stats.converged.all()
    assert np.all(stats.chi2_r <= 1.0)
    assert np.all(stats.porod == 0.0)
    table = _table(q)
    for r in range(radii.shape[0]):
        total = table.interpolate(radii[r]).sum(axis=0)
        np.testing.assert_allclose(models[r], total, rtol=1e-9)
        fit = stats.scale[r] * models[r] + stats.background[r]
        chi2_r = np.mean(((intensity - fit) / sigma) ** 2)
        assert chi2_r == pytest.approx(stats.chi2_r[r], rel=1e-6)
    assert np.all(stats.accepted <= stats.steps)


def test_repetitions_independent_of_threads_and_seeded():
    import numba

    q, intensity, sigma = _synthetic(1)
    numba.set_num_threads(1)
    one = _run(q, intensity, sigma)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    two = _run(q, intensity, sigma)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)
    other = _run(q, intensity, sigma, seed=6)
    assert not np.array_equal(one[0], other[0])
    # repetition r uses seed + r: repetition 1 of seed 5 is repetition 0 of seed 6
    np.testing.assert_array_equal(one[0][1], other[0][0])


def test_max_iter_flags_not_converged():
    q, intensity, sigma = _synthetic(2)
    _, _, stats = _run(q, intensity, sigma / 100, max_iter=200)
    assert not stats.converged.any()
    assert np.all(stats.steps == 200)


def test_bounded_solver_matches_lsq_with_porod_term():
    from scipy.optimize import lsq_linear

    rng = np.random.default_rng(9)
    q = np.geomspace(0.1, 5, 70)
    porod = (q[0] / q) ** 4
    for _ in range(20):
        model = rng.uniform(0.5, 5, q.size)
        intensity = (rng.uniform(0, 2) * model + rng.uniform(-0.3, 0.3)
                     + rng.uniform(-0.5, 1) * porod + rng.normal(0, 0.05, q.size))
        w = rng.uniform(0.5, 2, q.size)
        cols = np.column_stack([model, np.ones_like(q), porod])
        gram = (cols * w[:, None]).T @ cols
        rhs = (cols * w[:, None]).T @ intensity
        sii = float(np.sum(w * intensity**2))
        lower, upper = np.array([0.0, -0.2, 0.0]), np.array([np.inf, 0.2, np.inf])
        x, chi2 = mc.solve_bounded(gram, rhs, sii, lower, upper)
        sw = np.sqrt(w)
        ref = lsq_linear(cols * sw[:, None], intensity * sw, bounds=(lower, upper),
                         method="bvls", tol=1e-15).x
        chi2_ref = float(np.sum(w * (intensity - cols @ ref) ** 2))
        assert np.all(x >= lower - 1e-12)
        assert np.all(x <= upper + 1e-12)
        assert chi2 == pytest.approx(float(np.sum(w * (intensity - cols @ x) ** 2)), rel=1e-9)
        assert chi2 <= chi2_ref * (1 + 1e-9) + 1e-12
        np.testing.assert_allclose(x, ref, rtol=1e-6, atol=1e-8)


def test_chain_matches_its_naive_twin():
    """Same draws, same greedy decisions: the compiled chain (incremental sums) and the plain one
    (full recomputation, scipy bounded least squares) end with the same radii."""
    q, intensity, sigma = _synthetic(3)
    weight = 1 / sigma**2
    n_contrib, n_steps, seed = 12, 150, 11
    radii = np.empty(n_contrib)
    model = np.empty(q.size)
    stats = np.empty(len(mc.STATS))
    mean_i = abs(intensity.mean())
    table = _table(q)
    mc._run_chain(table.values, table.ln_s0, 1 / table.step, intensity, weight, 0.3, 5.0, True,
                  n_contrib, n_steps, 1e-9, -mean_i, mean_i, seed, False, np.zeros_like(q), radii,
                  model, stats)
    state = np.array([mc.splitmix64(np.uint64(seed)) | np.uint64(1)], dtype=np.uint64)
    twin_radii, (a, b, chi2_r) = naive.mc_chain(
        intensity, weight, n_contrib, n_steps, -mean_i, mean_i,
        lambda: mc.draw_radius(state, 0.3, 5.0, True),
        lambda size: naive.table_contribution(table.values, table.ln_s0, table.step, size))
    assert stats[mc.STEPS] == n_steps
    np.testing.assert_allclose(radii, twin_radii, rtol=1e-12)
    assert stats[mc.SCALE] == pytest.approx(a, rel=1e-6)
    assert stats[mc.BACKGROUND] == pytest.approx(b, rel=1e-6, abs=1e-9)
    assert stats[mc.CHI2_R] == pytest.approx(chi2_r, rel=1e-9)
