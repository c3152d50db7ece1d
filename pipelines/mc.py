"""``saxs mc``: Monte Carlo size distributions of curves, one result file and card each."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from saxs_pipelines.messages import EXIT_FAILED_ITEMS, EXIT_OK, cli_wording
from saxs_pipelines.options import monte_carlo_overrides


def cmd_mc(args: argparse.Namespace) -> int:
    """``saxs mc``: each curve fitted, written and drawn; a failed curve does not stop the
    others (exit 3)."""
    from tqdm import tqdm  # noqa: PLC0415

    import saxs  # noqa: PLC0415
    from saxs_pipelines.config import load_config, mc_config, parse_assignments  # noqa: PLC0415
    from saxs_pipelines.plots import plot_mc  # noqa: PLC0415

    settings = load_config(args.config)
    overrides = monte_carlo_overrides(args)
    shape = {"model": args.model,
             "model_parameters": parse_assignments(args.param, "--param") if args.param
             else None}
    config = mc_config(settings["mc"], {**overrides, "conv_crit": args.conv_crit, **shape})
    hist_settings = settings["histogram"]
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for name in tqdm(args.curves, desc="mc", unit="curve", disable=args.quiet):
        path = Path(name)
        try:
            curve = saxs.read_curve(path, q_unit=args.unit)
            dist = saxs.monte_carlo(curve, config)
            rng = hist_settings["range_nm"]
            hist = dist.histogram(bins=hist_settings["bins"], scale=hist_settings["scale"],
                                  range_nm=tuple(rng) if rng else None,
                                  weighting=hist_settings["weighting"])
            result = saxs.write_result(out_dir / f"{path.stem}_mc.h5", curve, dist,
                                       extra={"config": settings}, overwrite=args.overwrite)
            png = out_dir / f"{path.stem}_mc.png"
            if png.exists() and not args.overwrite:
                raise saxs.InputError(f"{png}: exists; pass --overwrite to replace it")
            plot_mc(dist, hist, png, title=path.name)
        except saxs.SaxsError as exc:
            failures += 1
            tqdm.write(f"saxs mc: {path}: {cli_wording(exc)}", file=sys.stderr)
            continue
        mean, mean_std = hist.moments["mean_nm"]
        phi, phi_std = hist.moments["total_volume_fraction"]
        flag = ""
        if not dist.all_converged:
            failures += 1
            flag = (f"  NOT CONVERGED: {int((~dist.converged).sum())} of {dist.converged.size} "
                    f"repetitions stayed above conv_crit {dist.config['conv_crit']:g} (best "
                    f"chi2_r {dist.chi2_r.min():.3g}); the model does not describe this curve: "
                    "check the q unit (--q-unit-in), the blank subtraction and the shape; result "
                    "written, flagged")
        tqdm.write(f"{path.name}: volume-weighted mean R {mean:.4g} +- {mean_std:.2g} nm, "
                   f"volume fraction {phi:.4g} +- {phi_std:.2g}, chi2_r "
                   f"{dist.chi2_r.mean():.3f}{flag} -> {result}, {png}")
    return EXIT_FAILED_ITEMS if failures else EXIT_OK
