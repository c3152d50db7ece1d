"""``saxs watch``: stacks are processed once complete, never while they are being written."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import yaml

import saxs
from saxs.io.lima import write_lima
from saxs.simulate import write_beamtime
from saxs_pipelines.config import load_config
from saxs_pipelines.watch import watch
from tests.test_batch import CONFIG, small_scenario


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def arrive(raw: Path, live: Path, frames: int | None = None) -> Path:
    """Copy a stack and its scaler file into ``live/raw``; with ``frames``, only that many of
    its frames (a stack still being written). Returns the stack's path there."""
    target = live / "raw" / raw.name
    if frames is None:
        shutil.copy(raw, target)
    else:
        stack = saxs.read_frames(raw)
        write_lima(target, stack[:frames], dict(stack.header), detector="rayonix")
    scaler = saxs.io.scalers.scaler_file_for(raw)
    shutil.copy(scaler, live / "raw" / scaler.name)
    return target


def _live_folder(tmp_path):
    """A simulated beamtime, and an empty live folder with its calibration and sample sheet."""
    source = tmp_path / "acquired"
    files = write_beamtime(small_scenario(), source)
    live = tmp_path / "live"
    (live / "raw").mkdir(parents=True)
    shutil.copytree(source / "calib", live / "calib")
    shutil.copy(source / "samples.csv", live / "samples.csv")
    return files, live


def test_watch_waits_for_complete_stacks(tmp_path):
    files, live = _live_folder(tmp_path)

    for name in ("empty", "ode", "np0"):
        arrive(files.raw[name], live)
    # np1 is being written: 2 of its 3 frames so far (a valid file, but not complete)
    partial = arrive(files.raw["np1"], live, frames=2)

    out = tmp_path / "out"
    updates = []
    config = load_config(yaml.safe_load(yaml.safe_dump(CONFIG)))
    thread = threading.Thread(target=watch, args=(live, config, out), kwargs={
        "interval": 0.2, "settle_s": 0.5, "idle_timeout": 6.0,
        "on_update": lambda r: updates.append({x.spec.name for x in r.all()})})
    thread.start()
    assert _wait_for((out / "samples" / "np0.h5").is_file)
    time.sleep(2.0)  # several polls while np1 stays incomplete
    assert not (out / "records" / "reduce" / "np1.json").exists()
    arrive(files.raw["np1"], live)  # the detector finished
    assert _wait_for((out / "samples" / "np1.h5").is_file)
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert "np1" not in updates[0]
    assert {"np0", "np1"} <= updates[-1]
    records = [yaml.safe_load(p.read_text()) for p in (out / "records").rglob("*.json")]
    assert {r["status"] for r in records} == {"ok"}
    # the series table follows the stacks as they arrive
    assert "np1" in (out / "series" / "growth" / "table.csv").read_text()
    assert len(saxs.read_frames(partial)) == 3


def test_watch_retries_a_stack_when_its_files_change(tmp_path):
    files, live = _live_folder(tmp_path)
    for name in ("empty", "ode", "np0"):
        shutil.copy(files.raw[name], live / "raw" / files.raw[name].name)
        if name != "np0":  # np0's scaler file arrives late: without monitors it fails
            scaler = saxs.io.scalers.scaler_file_for(files.raw[name])
            shutil.copy(scaler, live / "raw" / scaler.name)
    out = tmp_path / "out"
    config = load_config(yaml.safe_load(yaml.safe_dump(CONFIG)))
    thread = threading.Thread(target=watch, args=(live, config, out), kwargs={
        "interval": 0.2, "settle_s": 0.5, "idle_timeout": 5.0})
    thread.start()
    record = out / "records" / "reduce" / "np0.json"
    assert _wait_for(lambda: record.is_file() and '"failed"' in record.read_text())
    scaler = saxs.io.scalers.scaler_file_for(files.raw["np0"])
    shutil.copy(scaler, live / "raw" / scaler.name)
    assert _wait_for((out / "samples" / "np0.h5").is_file)
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert '"ok"' in record.read_text()
