"""The ``saxs`` command: simulate, usage errors, exit codes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from saxs_pipelines.cli import EXIT_ERROR, EXIT_OK, main

ROOT = Path(__file__).resolve().parents[1]

MINI = """\
version: 1
seed: 3
collection: mini
detector: {shape: [24, 20], pixel_size_m: 1.0e-3, distance_m: 0.3, center_px: [10.2, 11.7],
           beamstop: {radius_px: 2, arm_width_px: 1}}
acquisition: {frames: 2, dark_frames: 2}
solvent: {level_per_cm: 0.03}
measurements:
  - {name: empty, kind: empty_cell}
  - {name: ode, kind: solvent}
"""


def test_simulate_writes_folder(tmp_path, capsys):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(MINI)
    out = tmp_path / "bt"
    assert main(["simulate", str(scenario), "-o", str(out), "-q"]) == EXIT_OK
    assert (out / "samples.csv").is_file()
    assert (out / "calib" / "geometry.poni").is_file()
    assert len(list((out / "raw").glob("mini_rayonix_*_00.h5"))) == 2
    assert "wrote 2 stacks" in capsys.readouterr().out
    # existing output is kept: error, exit 1, message on stderr
    assert main(["simulate", str(scenario), "-o", str(out), "-q"]) == EXIT_ERROR
    assert "not empty" in capsys.readouterr().err
    assert main(["simulate", str(scenario), "-o", str(out), "-q", "--overwrite"]) == EXIT_OK


def test_bad_scenario_exit_code(tmp_path, capsys):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(MINI.replace("seed: 3", "seed: 3\nsede: 4"))
    assert main(["simulate", str(scenario), "-o", str(tmp_path / "o")]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "bad.yaml" in err
    assert "'sede'" in err
    assert not (tmp_path / "o").exists()


def test_usage_error_exit_code():
    with pytest.raises(SystemExit) as info:
        main(["simulate"])
    assert info.value.code == 2


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "saxs_pipelines.cli", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("saxs ")


def test_bench_reduce_small(capsys):
    """The benchmark runs end to end (tiny frames here; figures only matter on the 4M stack)."""
    assert main(["bench", "reduce", "--frames", "4", "--baseline-frames", "2", "--shape", "64",
                 "60", "--npt", "50"]) == EXIT_OK
    out = capsys.readouterr().out
    header, rule, row = out.splitlines()[1:4]
    assert header.split()[:2] == ["benchmark", "saxs"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert row.startswith("reduce a stack")
    assert row.count("frames/s") == 2
    assert re.search(r"\d+\.\dx", row)


def test_mc_command_writes_result_and_png(tmp_path, capsys):
    import numpy as np

    import saxs
    from saxs.models.distributions import Species, spheres_intensity

    q = np.geomspace(0.1, 7, 80)
    intensity = spheres_intensity(q, [Species(1.1, 1e-3, 0.1, "lognormal")])
    rng = np.random.default_rng(1)
    good = saxs.write_curve(tmp_path / "good.dat", saxs.Curve(
        q, intensity * (1 + 0.02 * rng.standard_normal(q.size)), 0.02 * intensity,
        intensity_unit="1/cm", metadata={"sample": "good"}))
    bad = tmp_path / "bad.dat"
    bad.write_text("# q_unit = 1/nm\n0.1 1 0.1\n0.2 1 0.1\n")
    config = tmp_path / "pipeline.yaml"
    config.write_text("version: 1\nmc:\n  n_rep: 3\n  max_iter: 20000\n"
                      "histogram:\n  bins: 30\n  range_nm: [0.5, 2.5]\n")
    out = tmp_path / "out"
    code = main(["mc", str(good), str(bad), "-c", str(config), "-o", str(out), "--seed", "3",
                 "--rmin", "0.3", "--rmax", "4", "-q"])
    assert code == 3  # one curve failed, the other was done
    captured = capsys.readouterr()
    assert "bad.dat" in captured.err
    assert "volume-weighted mean R" in captured.out
    dist = saxs.read_distribution(out / "good_mc.h5")
    assert dist.n_rep == 3
    assert dist.seed == 3
    assert (out / "good_mc.png").stat().st_size > 10_000
    # outputs are kept unless --overwrite
    assert main(["mc", str(good), "-c", str(config), "-o", str(out), "-q"]) == 3
    config.write_text("version: 1\nmc:\n  n_repetitions: 3\n")
    assert main(["mc", str(good), "-c", str(config), "-o", str(out), "-q"]) == 1
    assert "n_repetitions" in capsys.readouterr().err


def _run(*args):
    code = "import sys; from saxs_pipelines.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          check=False)


def _sphere_curve(tmp_path, name, q_scale=1.0, offset=0.0):
    import numpy as np

    import saxs
    from saxs.models.distributions import Species, spheres_intensity

    q = np.geomspace(0.1, 7, 80)
    intensity = spheres_intensity(q, [Species(1.1, 1e-3, 0.1, "lognormal")])
    noisy = intensity * (1 + 0.02 * np.random.default_rng(2).standard_normal(q.size)) - offset
    # q_scale != 1: the file claims 1/nm for numbers in another unit
    return saxs.write_curve(tmp_path / f"{name}.dat", saxs.Curve(
        q * q_scale, noisy, 0.02 * intensity, intensity_unit="1/cm",
        metadata={"sample": name}))


def test_mc_refuses_garbage_and_flags_failed_fits(tmp_path):
    """Mostly negative intensities: refused, nothing written, exit 3. q ten times too large
    (a unit mix-up): the Monte Carlo does not converge, the result is written but flagged and
    the exit code is 3. An output folder under a file: one line, exit 1."""
    import numpy as np

    negative = _sphere_curve(tmp_path, "negative", offset=1.0)
    out = tmp_path / "out"
    run = _run("mc", str(negative), "-o", str(out), "--nrep", "2", "-q")
    assert run.returncode == 3
    assert "% of the intensities are negative" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (out / "negative_mc.h5").exists()
    wrong_unit = _sphere_curve(tmp_path, "wrong_unit", q_scale=10.0)
    run = _run("mc", str(wrong_unit), "-o", str(out), "--nrep", "2", "--rmin", "0.3",
               "--rmax", "4", "-q")
    assert run.returncode == 3
    assert "NOT CONVERGED" in run.stdout
    assert "check the q unit" in run.stdout
    import saxs

    dist = saxs.read_distribution(out / "wrong_unit_mc.h5")
    assert not np.all(dist.converged)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    good = _sphere_curve(tmp_path, "good")
    run = _run("mc", str(good), "-o", str(blocker / "sub"), "--nrep", "2", "-q")
    assert run.returncode == 1
    assert "a_file" in run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert blocker.read_text() == "x"


def test_help_lists_commands_in_workflow_order_and_each_has_a_description():
    from saxs_pipelines.cli import HELP_ORDER, build_parser

    run = _run("--help")
    listed = re.findall(r"^    (\w+)", run.stdout, flags=re.M)
    assert listed == list(HELP_ORDER)
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        assert parser.description, name


def test_existing_output_message_speaks_the_command_line(tmp_path):
    good = _sphere_curve(tmp_path, "again")
    run = _run("compare", str(good), str(good))
    assert run.returncode == 0
    out = tmp_path / "out"
    assert _run("mc", str(good), "-o", str(out), "--nrep", "2", "-q").returncode == 0
    run = _run("mc", str(good), "-o", str(out), "--nrep", "2", "-q")
    assert run.returncode == 3
    assert "pass --overwrite" in run.stderr
    assert "overwrite=True" not in run.stderr


def test_one_spelling_with_hidden_old_aliases():
    from saxs_pipelines.cli import build_parser

    parser = build_parser()
    new = parser.parse_args(["mc", "c.dat", "--n-rep", "3", "--n-contrib", "50", "--r-min-nm",
                             "0.5", "--r-max-nm", "4", "--q-unit-in", "1/A"])
    old = parser.parse_args(["mc", "c.dat", "--nrep", "3", "--ncontrib", "50", "--rmin", "0.5",
                             "--rmax", "4", "--unit", "1/A"])
    for key in ("nrep", "ncontrib", "rmin", "rmax", "unit"):
        assert getattr(new, key) == getattr(old, key)
    text = _run("mc", "--help").stdout
    assert "--n-rep" in text
    assert "--nrep" not in text
    assert "--unit" not in text.replace("--q-unit-in", "")


def test_demo_refuses_a_used_folder_before_any_work(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["demo", "-o", str(out), "-q"]) == EXIT_ERROR
    assert "not empty" in capsys.readouterr().err
    # nothing was started or written: no stopped-flow part, the user's file untouched
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "mine"
