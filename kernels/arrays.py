"""How the kernels' wrappers hand arrays to numba."""

from __future__ import annotations

import numpy as np


def readonly(array: np.ndarray, dtype=None) -> np.ndarray:
    """A read-only C-contiguous view of ``array`` (a copy only if the type or layout differs).

    numba compiles a kernel again for each combination of writable and read-only arguments
    (seconds each): the wrappers pass every input a kernel only reads as read-only, so one
    compiled version serves every caller, and the one the compilation helper made is the one
    the batch uses."""
    view = np.ascontiguousarray(array, dtype=dtype).view()
    view.flags.writeable = False
    return view
