"""``saxs compare CURVE REFERENCE``: a curve against a reference curve (exit 1 if they differ)."""

from __future__ import annotations

import argparse

from saxs_pipelines.messages import EXIT_ERROR, EXIT_OK

#: The curves differ: the error code (a regression check that fails).
EXIT_DIFFER = EXIT_ERROR


def cmd_compare(args: argparse.Namespace) -> int:
    """Print :meth:`saxs.Comparison.report`; exit 0 when the curves agree, 1 when they differ."""
    import saxs  # noqa: PLC0415
    from saxs.comparison import DEFAULT_ALPHA, compare  # noqa: PLC0415

    alpha = DEFAULT_ALPHA if args.alpha is None else args.alpha
    if not 0 < alpha < 1:
        raise saxs.InputError(f"--alpha {alpha}: give a significance level in (0, 1), "
                              "e.g. 0.01")
    curve = saxs.read_curve(args.curve, q_unit=args.unit)
    reference = saxs.read_curve(args.reference, q_unit=args.unit)
    result = compare(curve, reference, q_range_nm=(args.qmin, args.qmax))
    print(result.report(alpha))
    return EXIT_OK if result.agrees(alpha) else EXIT_DIFFER
