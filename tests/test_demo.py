"""``saxs demo``: the README's main command prints the SCIENCE.md findings and the report."""

from __future__ import annotations

import re
from pathlib import Path

from saxs_pipelines.cli import EXIT_OK, main


def test_demo_prints_the_findings(demo_run):
    where, text, code = demo_run
    out = where / "saxs-demo"
    assert code == EXIT_OK
    radii = [float(r) for r in re.findall(r"quantized r = (\d\.\d+)", text)]
    assert len(radii) == 3
    for found, expected in zip(radii, (0.87, 0.94, 1.02), strict=True):
        assert abs(found - expected) <= 0.03
    families = re.findall(r"-> (CdSe-\d+)", text)
    assert families == ["CdSe-403", "CdSe-437", "CdSe-465"]
    assert re.search(r"step r = 0\.8\d+ -> 0\.9\d+ nm between temperature_c 190 and 200", text)
    assert re.search(r"shoulder at r = 1\.0\d+ nm appears at temperature_c 230", text)
    assert "continuous growth from temperature_c 250" in text
    assert re.search(r"temperature_c 25 \(precursor_t025\): lamellar, 2 Bragg peak\(s\), "
                     r"d = 3\.4[01]\d", text)
    assert "lamellar phase melts between temperature_c 50 and 100" in text
    assert (out / "processed" / "index.html").is_file()
    assert "INFO" in (out / "processed" / "saxs.log").read_text()  # the demo keeps a log
    assert str(Path("saxs-demo") / "processed" / "index.html") in text
    # the stopped-flow kinetics: rate constant within its uncertainty, onset of growth
    rate = re.search(r"rate constant k1 \(A -> B\) = ([\d.]+) \+- ([\d.]+) 1/s", text)
    k, err = float(rate.group(1)), float(rate.group(2))
    assert abs(k - 0.15) <= err  # simulated: data_samples/stopped_flow.yaml
    onset = re.search(r"continuous growth \(species C\) starts at t = ([\d.]+) \+- ([\d.]+) s",
                      text)
    assert abs(float(onset.group(1)) - 15.0) < 2.0  # within one frame period (2 s)
    assert "simulated: k1 = 0.15 1/s, onset of growth 15 s" in text
    assert (out / "stopped_flow" / "processed" / "kinetics" / "stopped_flow" /
            "kinetics.png").is_file()
    # a second demo into the same folder is refused, not silently overwritten
    assert main(["demo", "-o", str(out), "-q"]) == 1
    assert (out / "processed" / "index.html").is_file()


def test_demo_says_where_the_time_went(demo_run):
    _, text, _ = demo_run
    line = next(line for line in text.splitlines() if line.startswith("time by stage:"))
    assert "reduce" in line
    assert "sample" in line
    assert "slowest" in line
