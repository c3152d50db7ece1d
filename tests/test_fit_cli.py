"""``saxs fit`` on the command line: outputs, exit codes, one-line errors, files untouched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import saxs
from saxs.io.nxcansas import read_extra
from saxs.models.distributions import Species, species_intensity


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "saxs_pipelines.cli", "fit", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def curve_file(tmp_path) -> Path:
    """Log-normal spheres (median 3 nm, sigma 0.15, phi 2e-3, CdSe/ODE contrast) + 0.05/cm,
    2 % noise, q in 1/A in the file."""
    q = np.geomspace(0.1, 5.0, 90)
    truth = species_intensity(q, Species(3.0, 2e-3, 0.15, "lognormal")) + 0.05
    sigma = 0.02 * truth
    noisy = truth + np.random.default_rng(5).normal(0, 1, q.size) * sigma
    lines = ["# q[1/A] I[1/cm] sigma[1/cm]"] + [
        f"{a / 10!r} {b!r} {c!r}" for a, b, c in zip(q.tolist(), noisy.tolist(), sigma.tolist(),
                                                      strict=True)]
    path = tmp_path / "spheres.dat"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fit_writes_result_and_plot(curve_file, tmp_path):
    out = tmp_path / "out" / "fit.h5"
    out.parent.mkdir()
    proc = run(str(curve_file), "--model", "sphere", "--init", "radius_nm=2.5",
               "--init", "rel_width=0.2", "--background", "flat", "-o", str(out), "-q",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "radius_nm" in proc.stdout
    assert "chi2_r" in proc.stdout
    assert "(fixed)" in proc.stdout                       # contrast_per_cm2
    items = read_extra(out)
    fit = items["fit"]
    assert fit["model"][0]["model"] == "sphere"
    assert fit["model"][0]["distribution"] == "lognormal"
    errors = fit["errors"]
    assert abs(fit["values"]["radius_nm"] - 3.0) < 4 * errors["radius_nm"]
    assert abs(fit["values"]["bg_level"] - 0.05) < 4 * errors["bg_level"]
    np.testing.assert_allclose(saxs.read_curve(out).q, items["fit_q_nm"])
    assert out.with_suffix(".png").stat().st_size > 10_000
    # existing outputs are kept unless --overwrite
    before = out.read_bytes()
    again = run(str(curve_file), "--model", "sphere", "-o", str(out), cwd=tmp_path)
    assert again.returncode == 1
    assert "--overwrite" in again.stderr
    assert out.read_bytes() == before


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "no_such_model_xyz"], "no_such_model_xyz"),
    (["--model", "sphere", "--param", "length_nm20"], "NAME=VALUE"),
    (["--model", "sphere", "--param", "length_nm=20"], "unknown parameter"),
    (["--model", "sphere", "--init", "radius=2"], "--init radius: unknown parameter"),
    (["--model", "sphere", "-o", "missing_dir/fit.h5"], "does not exist"),
])
def test_bad_input_is_one_line_and_writes_nothing(curve_file, tmp_path, args, message):
    proc = run(str(curve_file), *args, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spheres.dat"]


def test_missing_file_and_usage_errors(tmp_path):
    proc = run(str(tmp_path / "nope.dat"), "--model", "sphere", cwd=tmp_path)
    assert proc.returncode == 1
    assert "nope.dat: file not found" in proc.stderr
    usage = run(str(tmp_path / "nope.dat"), cwd=tmp_path)             # no --model
    assert usage.returncode == 2
    assert list(tmp_path.iterdir()) == []
