"""The README's Python snippets run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(section: str) -> list[str]:
    """The ```python blocks of one README section (by its heading text)."""
    text = README.read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.MULTILINE)
    body = next((p for p in parts if p.startswith(section)), None)
    if body is None:
        raise AssertionError(f"README has no section {section!r}")
    return re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)


@pytest.mark.parametrize("section", ["Particle shapes and custom fits"])
def test_snippets_run(section, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(section)
    assert blocks
    for block in blocks:
        exec(compile(block, f"README.md ({section})", "exec"), {"__name__": "__readme__"})


def test_api_snippets_run_on_the_demo_output(demo_run, monkeypatch):
    """The "Python API" section (reduction, Monte Carlo, fits, series) in the folder where
    ``saxs demo`` ran."""
    where, _, code = demo_run
    assert code == 0
    monkeypatch.chdir(where)
    blocks = python_blocks("Python API")
    assert len(blocks) == 2
    for block in blocks:
        exec(compile(block, "README.md (Python API)", "exec"), {"__name__": "__readme__"})


def test_time_resolved_snippets_run_on_the_demo_output(demo_run, monkeypatch):
    """The time-resolved section: per-frame reduction, the _ave.h5 layout read back, kinetics
    (run from a folder holding the demo output and the shipped data_samples)."""
    where, _, code = demo_run
    assert code == 0
    link = where / "data_samples"
    if not link.exists():
        link.symlink_to(README.parent / "data_samples")
    monkeypatch.chdir(where)
    blocks = python_blocks("Time-resolved stacks")
    assert len(blocks) == 3
    namespace = {"__name__": "__readme__"}
    for block in blocks:
        exec(compile(block, "README.md (Time-resolved stacks)", "exec"), namespace)
    assert abs(namespace["k1"] - 0.15) < 3 * namespace["k1_err"]
