"""``saxs watch``: live processing during a beamtime.

Every ``interval`` seconds the folder is scanned. A stack counts as complete when its file (and
its scaler file, if any) has kept the same size and modification time for ``settle_s`` seconds,
opens as a frame stack, and holds the number of frames the sample sheet announces (when it
does). A sample is processed once it and its blanks are complete; the batch then runs again in
resume mode, so finished jobs are kept and the series tables, figures and index are refreshed.
A stack whose file (or scaler file) changes after it was processed is processed again, so a
failed job is retried once its input is fixed. Errors of one cycle (a sample sheet being edited)
are logged and the next cycle tries again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saxs.errors import SaxsError
from saxs_pipelines.batch import run_batch
from saxs_pipelines.beamtime import Beamtime, discover
from saxs_pipelines.records import BatchResult

log = logging.getLogger("saxs.watch")


@dataclass
class _Seen:
    """Size and mtime of a file at the last poll, and since when they have not changed."""

    stamps: dict[Path, tuple[int, int, float]] = field(default_factory=dict)

    def settled(self, path: Path, settle_s: float, now: float) -> bool:
        if not path.is_file():
            return False
        stat = path.stat()
        key = (stat.st_size, stat.st_mtime_ns)
        old = self.stamps.get(path)
        if old is None or old[:2] != key:
            self.stamps[path] = (*key, now)
            return settle_s <= 0
        return now - old[2] >= settle_s


def _companions(path: Path) -> list[Path]:
    from saxs.io.scalers import scaler_file_for  # noqa: PLC0415

    scaler = scaler_file_for(path)
    return [scaler] if scaler is not None else []


def _opens_complete(path: Path, expected: int | None) -> bool:
    import saxs  # noqa: PLC0415

    try:
        frames = saxs.read_frames(path)
    except Exception as exc:  # noqa: BLE001  (still being written)
        log.debug("%s not readable yet: %s", path, exc)
        return False
    return expected is None or len(frames) >= expected


def complete_items(beamtime: Beamtime, seen: _Seen, settle_s: float,
                   now: float | None = None) -> set[str]:
    """Names of the stacks that are complete now (see the module docstring)."""
    now = time.monotonic() if now is None else now
    complete = set()
    for item in beamtime.items:
        path = beamtime.root / item.file
        files = [path, *_companions(path)]
        if all(seen.settled(p, settle_s, now) for p in files) and _opens_complete(
                path, item.frames):
            complete.add(item.name)
    return complete


def ready_items(beamtime: Beamtime, complete: set[str]) -> set[str]:
    """Complete stacks whose blanks are complete too (or unknown to the sheet: the batch then
    records the sample as failed instead of waiting for ever)."""
    names = {i.name for i in beamtime.items}
    return {i.name for i in beamtime.items if i.name in complete
            and all(not other or other in complete or other not in names
                    for other in (i.blank, i.empty_cell))}


def _signature(beamtime: Beamtime, names: set[str]) -> dict[str, tuple]:
    """Size and mtime of each ready stack and its companions: a change reruns the batch (a
    rewritten stack, a scaler file that arrived late, a failed job to retry)."""
    out = {}
    for item in beamtime.items:
        if item.name in names:
            path = beamtime.root / item.file
            files = [path, *_companions(path)]
            out[item.name] = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns)
                                   for p in files if p.exists())
    return out


def watch(root: str | Path, config: dict[str, Any], out: str | Path | None = None, *,
          interval: float = 2.0, settle_s: float = 2.0, idle_timeout: float | None = None,
          progress: Callable[[str, int], Any] | None = None,
          on_update: Callable[[BatchResult], Any] | None = None) -> BatchResult | None:
    """Process stacks as they complete until interrupted or idle for ``idle_timeout`` s."""
    seen = _Seen()
    processed: dict[str, tuple] = {}
    result = None
    last_change = time.monotonic()
    while True:
        try:
            beamtime = discover(root, config["discovery"])
            ready = ready_items(beamtime, complete_items(beamtime, seen, settle_s))
            signature = _signature(beamtime, ready)
            if signature != processed:
                changed = sorted(k for k in signature if signature[k] != processed.get(k))
                log.info("processing %s", ", ".join(changed))
                result = run_batch(root, config, out, resume=True, progress=progress,
                                   only=ready)
                processed = signature
                last_change = time.monotonic()
                if on_update is not None:
                    on_update(result)
        except (SaxsError, OSError) as exc:  # e.g. a sample sheet being edited: next cycle
            log.error("watch: %s; trying again in %g s", exc, interval)
        if idle_timeout is not None and time.monotonic() - last_change > idle_timeout:
            return result
        time.sleep(interval)
