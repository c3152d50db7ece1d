"""Pure numerical kernels (numpy, numba, math): no I/O, no logging, no stateful classes.

Never imports ``saxs``. Every kernel has a slow, obvious numpy twin in ``tests/naive.py``.
"""
