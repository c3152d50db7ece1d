"""saxs.compare, saxs.testing.assert_curves_close and saxs.guinier_auto."""

from __future__ import annotations

import math

import numpy as np
import pytest

import saxs
from saxs.comparison import compare, guinier_auto
from saxs.errors import InputError
from saxs.models import Species, species_intensity
from saxs.testing import assert_curves_close

Q = np.linspace(0.05, 3.0, 400)


def _truth(q=Q):
    return 10 * np.exp(-(q * 2.0) ** 2 / 3) + 0.1


def _measure(rng, q=Q, truth=None, rel=0.01, name="curve"):
    ideal = _truth(q) if truth is None else truth
    sigma = rel * ideal
    return saxs.Curve(q, ideal + rng.normal(0, sigma), sigma, metadata={"sample": name})


def test_repeated_measurements_agree_at_the_stated_rate():
    """Two noisy measurements of the same curve: at alpha = 0.01 each test rejects about 1 %
    of 300 pairs; the verdict "differ" comes at most twice the expected rate plus 3 sd."""
    rng = np.random.default_rng(11)
    n, alpha = 300, 0.01
    rejected = sum(not compare(_measure(rng), _measure(rng)).agrees(alpha) for _ in range(n))
    expected = 2 * alpha * n        # two tests, each at alpha
    assert rejected <= expected + 3 * math.sqrt(expected), rejected


def test_a_small_q_shift_is_found():
    rng = np.random.default_rng(1)
    ref = _measure(rng, name="reference")
    shifted = saxs.Curve(Q * 1.005, _measure(rng).intensity, ref.sigma)
    result = compare(shifted, ref)
    assert not result.agrees()
    assert result.cormap_p < 1e-4
    assert result.longest_run > 20


def test_a_background_offset_of_two_sigma_is_found():
    """An offset of two sigma per point (1.4 combined sigma, below 1.5 1/nm): the points lie on
    one side of the reference in long runs."""
    rng = np.random.default_rng(2)
    ref = _measure(rng, name="reference")
    low_q = Q < 1.5
    offset = _measure(rng)
    offset = offset.replace(intensity=offset.intensity + 2 * np.where(low_q, ref.sigma, 0))
    result = compare(offset.select(None, 1.5), ref)
    assert result.cormap_p < 0.01
    assert result.chi2_p < 0.01
    assert "systematic" in result.report()


def test_assert_curves_close_message_names_the_numbers():
    rng = np.random.default_rng(3)
    ref = _measure(rng, name="gc_reference")
    assert_curves_close(_measure(rng), ref)
    wrong = _measure(rng, name="gc_today")
    wrong = wrong.replace(intensity=wrong.intensity * 1.05)
    with pytest.raises(AssertionError, match=r"gc_today vs gc_reference: DIFFER") as info:
        assert_curves_close(wrong, ref)
    text = str(info.value)
    assert "chi2_r" in text
    assert "% above the reference" in text
    assert "CorMap" in text


def test_bad_comparisons_are_refused():
    rng = np.random.default_rng(4)
    curve = _measure(rng)
    with pytest.raises(InputError, match="bring them to one unit"):
        compare(curve, curve.replace(intensity_unit="1/cm"))
    far = saxs.Curve(Q * 10 + 40, curve.intensity, curve.sigma)
    with pytest.raises(InputError, match=r"share 0 points.*same q unit"):
        compare(curve, far)


def test_guinier_auto_on_spheres():
    """Monodisperse spheres R = 3 nm: Rg = sqrt(3/5) R = 2.324 nm (Guinier 1939)."""
    rng = np.random.default_rng(5)
    q = np.geomspace(0.02, 2.0, 300)
    ideal = species_intensity(q, [Species(3.0, 1e-3)])
    result = guinier_auto(_measure(rng, q=q, truth=ideal))
    expected = math.sqrt(3 / 5) * 3.0
    assert abs(result.rg_nm - expected) < max(2 * result.rg_err_nm, 0.01 * expected)
    assert result.qrg_max < 1.5
    assert result.n_points > 10
    assert result.i0 == pytest.approx(ideal[0], rel=0.05)


def test_guinier_auto_refuses_curves_without_a_guinier_region():
    q = np.geomspace(0.5, 3.0, 50)
    rising = saxs.Curve(q, q**2, 0.01 * q**2)
    with pytest.raises(InputError, match="no Guinier region"):
        guinier_auto(rising)
    with pytest.raises(InputError, match="fewer than 3 positive"):
        guinier_auto(saxs.Curve(q, -np.ones_like(q), np.ones_like(q)))


def _cli(*args):
    import subprocess
    import sys

    main = "import sys; from saxs_pipelines.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", main, "compare", *args],
                          capture_output=True, text=True, check=False)


def test_compare_command(tmp_path):
    rng = np.random.default_rng(5)
    paths = {}
    for name, curve in (("a", _measure(rng)), ("b", _measure(rng)),
                        ("shifted", _measure(rng, truth=_truth(Q * 1.01)))):
        paths[name] = saxs.write_curve(tmp_path / f"{name}.h5", curve)
    same = _cli(str(paths["a"]), str(paths["b"]))
    assert same.returncode == 0, same.stderr
    assert ": agree" in same.stdout
    differ = _cli(str(paths["shifted"]), str(paths["a"]))
    assert differ.returncode == 1
    assert "DIFFER" in differ.stdout
    assert "largest deviation" in differ.stdout
    missing = _cli(str(tmp_path / "nope.h5"), str(paths["a"]))
    assert missing.returncode == 1
    assert "nope.h5" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_alpha = _cli(str(paths["a"]), str(paths["b"]), "--alpha", "5")
    assert bad_alpha.returncode == 1
    assert "--alpha 5.0" in bad_alpha.stderr
