"""Command-line options shared by several ``saxs`` commands, in one spelling.

Flags are spelled with hyphens between words and with their unit where they have one
(``--n-rep``, ``--r-min-nm``); the earlier spellings (``--nrep``, ``--rmin``, ``--unit`` for an
input file's q unit) are accepted as hidden aliases for one release.
"""

from __future__ import annotations

import argparse


def _option(parser: argparse.ArgumentParser, flag: str, old: str | None, **kwargs) -> None:
    parser.add_argument(flag, **kwargs)
    if old:
        hidden = {k: v for k, v in kwargs.items() if k not in ("help", "metavar")}
        parser.add_argument(old, **hidden, help=argparse.SUPPRESS)


def add_monte_carlo_options(parser: argparse.ArgumentParser, *, shape: bool = True) -> None:
    """``--n-rep`` and ``--seed``; with ``shape`` also ``--n-contrib``, ``--r-min-nm``,
    ``--r-max-nm`` (dests nrep, ncontrib, rmin, rmax, seed)."""
    _option(parser, "--n-rep", "--nrep", dest="nrep", type=int, metavar="N",
            help="Monte Carlo repetitions (mc.n_rep)")
    if shape:
        _option(parser, "--n-contrib", "--ncontrib", dest="ncontrib", type=int, metavar="N",
                help="contributions per repetition (mc.n_contrib)")
        _option(parser, "--r-min-nm", "--rmin", dest="rmin", type=float, metavar="R",
                help="smallest radius, nm (with --r-max-nm: mc.radius_range_nm)")
        _option(parser, "--r-max-nm", "--rmax", dest="rmax", type=float, metavar="R",
                help="largest radius, nm")
    parser.add_argument("--seed", type=int, help="Monte Carlo seed (repetition r uses seed + r)")


def monte_carlo_overrides(args: argparse.Namespace) -> dict:
    """The ``mc`` config overrides given by :func:`add_monte_carlo_options` (with ``shape``):
    n_rep, n_contrib, seed and the radius range (None where not given; InputError when only
    one radius bound is)."""
    from saxs.errors import InputError  # noqa: PLC0415

    if (args.rmin is None) != (args.rmax is None):
        raise InputError("give both --r-min-nm and --r-max-nm, or neither")
    return {"n_rep": args.nrep, "n_contrib": args.ncontrib, "seed": args.seed,
            "radius_range_nm": (args.rmin, args.rmax) if args.rmin is not None else None}


def add_q_unit_in(parser: argparse.ArgumentParser) -> None:
    """``--q-unit-in``: the q unit of input text files that do not state one (dest unit)."""
    _option(parser, "--q-unit-in", "--unit", dest="unit", metavar="UNIT",
            help="q unit of input text files that do not state one (e.g. 1/A)")
