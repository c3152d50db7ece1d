"""``saxs compare CURVE REFERENCE``: a curve against a reference curve (exit 1 if they differ)."""

from __future__ import annotations

import argparse

from saxs_pipelines.options import add_q_unit_in

EXIT_DIFFER = 1


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
    return 0 if result.agrees(alpha) else EXIT_DIFFER


def add_parser(sub: argparse._SubParsersAction, add_common) -> None:
    """Register ``saxs compare``."""
    cmp = sub.add_parser(
        "compare", help="check a curve against a reference curve (exit 1 if they differ)",
        description="Compare a curve with a reference (glassy carbon, water, a standard sample) "
        "on their common q range: chi2_r and its p-value, the largest deviation in sigma and "
        "where, and CorMap's p-value for systematic differences. Exit 0 when both tests accept "
        "the curves as the same at --alpha, 1 when they differ.")
    cmp.add_argument("curve", help="the new curve (.dat, .pdh, NXcanSAS .h5)")
    cmp.add_argument("reference", help="the reference curve, same intensity unit")
    cmp.add_argument("--alpha", type=float,
                     help="significance level of both tests (default 0.01)")
    cmp.add_argument("--qmin", type=float, help="lowest q compared, 1/nm")
    cmp.add_argument("--qmax", type=float, help="highest q compared, 1/nm")
    add_q_unit_in(cmp)
    add_common(cmp)
    cmp.set_defaults(func=cmd_compare)
