"""The compilation helper of a first run (saxs_pipelines.warmup)."""

from __future__ import annotations

import json

from saxs_pipelines import warmup
from saxs_pipelines.config import DEFAULTS

SPEC = {"kinds": ["remove_frame", "mc", "per_frame"], "mc": DEFAULTS["mc"], "dtype": "<i4",
        "compressed": True}


def test_helper_fills_the_cache_then_is_not_needed():
    assert warmup.main([json.dumps(SPEC)]) == 0
    spec = warmup.plan(mc=DEFAULTS["mc"], dtype="<i4", compressed=True, per_frame=True)
    assert spec["kinds"] == []
    assert warmup.start(spec) is None  # nothing to compile: no process


def test_helper_process_runs_and_stops():
    helper = warmup.start({**SPEC, "kinds": ["remove_frame"], "dtype": "<u2"})
    assert helper is not None
    assert helper.wait(timeout=120) == 0
    warmup.stop(helper)  # already ended: nothing to do
    slow = warmup.start({**SPEC, "kinds": ["mc", "per_frame"], "dtype": "<i8"})
    warmup.stop(slow)  # ended early: the batch compiles what it still needs
    assert slow.poll() is not None
