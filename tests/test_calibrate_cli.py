"""``saxs calibrate`` on the command line: outputs, report, exit codes."""

from __future__ import annotations

import math

import numpy as np

from saxs.geometry import Geometry
from saxs.simulate.calibrant import simulate_calibrant
from saxs.simulate.detector import Beamstop
from saxs_pipelines.cli import main

PX = 172e-6


def _frame(tmp_path, rings=True):
    import fabio

    truth = Geometry(distance_m=0.3, poni1_m=260 * PX, poni2_m=250 * PX, pixel1_m=PX,
                     pixel2_m=PX, wavelength_m=0.1541e-9, shape=(512, 512),
                     rot1_rad=math.radians(1), rot2_rad=math.radians(-1))
    frame = simulate_calibrant(truth, "AgBh", beamstop=Beamstop(radius_px=10), seed=9)
    image = frame.image if rings else np.random.default_rng(0).poisson(20, (512, 512))
    path = tmp_path / "agbh.edf"
    fabio.edfimage.EdfImage(data=np.asarray(image, dtype=np.int32)).write(str(path))
    mask = tmp_path / "mask.edf"
    fabio.edfimage.EdfImage(data=frame.mask.astype(np.int8)).write(str(mask))
    return path, mask, truth


def test_calibrate_writes_poni_and_png(tmp_path, capsys):
    frame, mask, truth = _frame(tmp_path)
    out = tmp_path / "geometry.poni"
    code = main(["calibrate", str(frame), "--calibrant", "AgBh", "-w", "1.541", "--pixel", "172",
                 "-m", str(mask), "-o", str(out), "-q"])
    assert code == 0
    text = capsys.readouterr().out
    assert "distance" in text
    assert "+-" in text
    assert "ring" in text
    assert out.is_file()
    assert out.with_suffix(".png").is_file()
    assert Geometry.from_poni(out).distance_m == np.float64(
        Geometry.from_poni(out).distance_m)
    assert abs(Geometry.from_poni(out).distance_m / truth.distance_m - 1) < 1e-3
    # no overwrite without --overwrite
    assert main(["calibrate", str(frame), "-w", "1.541", "--pixel", "172", "-o", str(out)]) == 1


def test_calibrate_errors(tmp_path, capsys):
    frame, _, _ = _frame(tmp_path, rings=False)
    out = tmp_path / "g.poni"
    assert main(["calibrate", str(frame), "-w", "1.541", "--pixel", "172", "-o", str(out)]) == 1
    assert "no calibrant ring" in capsys.readouterr().err
    assert not out.exists()
    assert not out.with_suffix(".png").exists()
    assert main(["calibrate", str(frame), "-c", "Nope", "-w", "1.5", "--pixel", "172", "-o",
                 str(out)]) == 1
    assert "known calibrants" in capsys.readouterr().err
    assert main(["calibrate", str(frame), "--fix", "tilt", "-w", "1.5", "--pixel", "172",
                 "-o", str(out)]) == 1
    assert not out.exists()
