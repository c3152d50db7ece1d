"""Set-up of the worker processes that run batch jobs and per-frame Monte Carlos."""

from __future__ import annotations

import logging
import os


def init_worker(log_file: str | None = None) -> None:
    """One thread per worker process (the pool supplies the parallelism); the worker's log
    lines go to the batch's log file too (appends of whole lines from several processes)."""
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if log_file:
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [pid %(process)d]: %(message)s"))
        logger = logging.getLogger("saxs")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
