"""pytest helpers for users' own regression tests: a new reduction against a reference curve.

>>> from saxs.testing import assert_curves_close      # doctest: +SKIP
>>> assert_curves_close(saxs.read_curve("gc_today.h5"), saxs.read_curve("gc_reference.h5"))
"""

from __future__ import annotations

from saxs.comparison import DEFAULT_ALPHA, compare
from saxs.curve import Curve


def assert_curves_close(curve: Curve, reference: Curve, *, alpha: float = DEFAULT_ALPHA,
                        q_range_nm: tuple[float | None, float | None] = (None, None)) -> None:
    """AssertionError unless ``curve`` agrees with ``reference`` within their errors.

    Both the chi2 test and CorMap (:func:`saxs.compare`) must give p >= ``alpha``; the message
    says which failed, by how much, and where the curves differ most.
    """
    result = compare(curve, reference, q_range_nm=q_range_nm)
    if not result.agrees(alpha):
        raise AssertionError("curves differ\n" + result.report(alpha))
