"""Parametric fits of real SasView example curves (../shared/data/real/sasview_examples).

latex_smeared.xml (block 0: pinhole SANS of polymer latex in D2O with Qdev; title "latex
particles 0.5micron diameter in D2O"): spheres with Gaussian or log-normal radii, smeared by the
file's resolution. The AOT microemulsion files (core, drop and shell contrast, LOQ/ISIS SANS):
the droplet structure. Skipped when the shared folder is absent.
"""

from __future__ import annotations

import numpy as np
import pytest

import saxs
from saxs.fitting import flat, model
from saxs.models import known_models

#: Contrast of polystyrene latex (SLD 1.41e-6 1/A^2) in D2O (6.36e-6 1/A^2), 1/cm^2.
LATEX_CONTRAST_PER_CM2 = (6.36 - 1.41) * 1e10
#: Nominal latex radius: 0.5 um diameter (file title, SasView help "500nm polymer latex").
NOMINAL_RADIUS_NM = 250.0
#: The nominal size has one significant figure (0.5 um: 0.45-0.55 um, +-10 %); the fitted
#: radius also moves by a few per cent with the resolution window and the q range used (278 to
#: 283 nm for windows of (2.5, 3) sd and q_min 0.038 or 0.05 1/nm). Hence 15 %.
RADIUS_TOLERANCE = 0.15


@pytest.fixture
def examples(shared_dir):
    folder = shared_dir / "data" / "real" / "sasview_examples"
    if not folder.is_dir():
        pytest.skip("sasview_examples not present")
    return folder


@pytest.fixture
def latex(examples):
    # The file merges two detectors; two q values occur twice (merged, inverse-variance).
    # Above q = 1.5 1/nm the curve is the flat incoherent background only.
    return saxs.read_curve(examples / "latex_smeared.xml", merge_duplicates=True).select(
        None, 1.5)


@pytest.mark.slow
@pytest.mark.parametrize("distribution", ["gaussian", "lognormal"])
def test_latex_spheres_with_resolution_smearing(latex, distribution):
    assert latex.q_resolution is not None
    m = model("sphere", distribution, contrast_per_cm2=LATEX_CONTRAST_PER_CM2) + flat("bg_")
    start = {"volume_fraction": 0.01, "radius_nm": 250.0, "rel_width": 0.05, "bg_level": 0.06}
    smeared = saxs.fit_curve(latex, m, **start)
    plain = saxs.fit_curve(latex, m, smearing=False, **start)
    assert smeared.success
    assert smeared.smeared
    assert not plain.smeared
    radius = smeared.values["radius_nm"]
    assert abs(radius / NOMINAL_RADIUS_NM - 1) < RADIUS_TOLERANCE, radius
    # measured: chi2_r 0.54 smeared against 12.4 without smearing
    assert smeared.chi2_r < 1.5
    assert plain.chi2_r > 5 * smeared.chi2_r
    # the volume fraction is a few per cent at most (dilute latex), within 2x of 1 %
    assert 0.005 < smeared.values["volume_fraction"] < 0.02


def _droplet_parameters(specs) -> dict[str, str]:
    """Names of the shell thickness and the three SLDs of a core-shell sphere shape."""
    names = {}
    for spec in specs:
        lower = spec.name.lower()
        if spec.unit == "nm" and ("shell" in lower or "thick" in lower):
            names["shell"] = spec.name
        elif "solvent" in lower:
            names["solvent"] = spec.name
        elif "core" in lower:
            names["core"] = spec.name
        elif "shell" in lower:
            names["sld_shell"] = spec.name
    return names


@pytest.mark.xfail(reason="a single-contrast core-shell fit of the drop-contrast file drives the "
                   "shell thickness to 0 (core and shell are not separable at one contrast); "
                   "needs the simultaneous fit over the three AOT contrasts", strict=True)
def test_aot_core_shell_droplets(examples):
    """Core-shell spheres fitted to the drop contrast (D2O core + AOT shell against oil).

    Literature: AOT water-in-oil droplets of D2O in decane have water-core radii of a few nm
    (2-6 nm for water/AOT molar ratios w = 10-40, core radius ~ 0.15 w nm: Eastoe et al.,
    Langmuir 1990s; Arleth & Pedersen 2001, Phys. Rev. E 63, 061406) and an AOT shell about
    1 nm thick (the AOT tail length). Loose test: core radius 1.5-6 nm, shell 0.3-2.5 nm.
    A sphere fit of these files gives radii 2.7 nm (core contrast), 3.1 nm (drop) and 4.0 nm
    (shell contrast), consistent with a ~3 nm core and ~1 nm shell.
    """
    if "core_shell_sphere" not in known_models():
        pytest.skip("built-in core_shell_sphere not available yet")
    from saxs.models.registry import BUILTIN

    specs = BUILTIN["core_shell_sphere"].PARAMETERS
    names = _droplet_parameters(specs)
    if len(names) < 4:
        pytest.skip(f"core_shell_sphere parameters not recognised: {specs}")
    # SLDs (1e-6 1/A^2): D2O 6.36, AOT (h) 0.5, decane (d) 6.6 would be shell contrast; the
    # drop contrast has D2O and AOT against h-decane (-0.49).
    fixed = {names["shell"]: 1.0, names["core"]: 6.36, names["sld_shell"]: 0.5,
             names["solvent"]: -0.49}
    curve = saxs.read_curve(examples / "AOT_Microemulsion-Drop_Contrast.xml", drop_invalid=True)
    m = model("core_shell_sphere", "lognormal", **fixed) + flat("bg_")
    params = m.make_params(volume_fraction=0.05, radius_nm=3.0, rel_width=0.15, bg_level=0.1)
    params[names["shell"]].vary = True
    fit = saxs.fit_curve(curve, m, params)
    assert 1.5 < fit.values["radius_nm"] < 6.0
    assert 0.3 < fit.values[names["shell"]] < 2.5
    assert np.isfinite(fit.chi2_r)
