"""Parametric fits of real SasView example curves (../shared/data/real/sasview_examples).

latex_smeared.xml (block 0: pinhole SANS of polymer latex in D2O with Qdev; title "latex
particles 0.5micron diameter in D2O"): spheres with Gaussian or log-normal radii, smeared by the
file's resolution. The AOT microemulsion files (core, drop and shell contrast, LOQ/ISIS SANS):
the droplet structure. Skipped when the shared folder is absent.
"""

from __future__ import annotations

import pytest

import saxs
from saxs.fitting import fit_curves, flat, model

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


#: Idealised matched contrasts (1e-6/A^2, core, shell, solvent) of the three AOT files, with the
#: magnitude of D2O (6.37) against hydrogenous oil (-0.49, h-decane; SLDs from periodictable):
#: core contrast = shell matched to the oil, drop contrast = core and shell alike against the
#: oil, shell contrast = core matched to the oil. The volume fraction of each curve is free, so
#: only the ratios of the contrasts within one curve matter.
_AOT_CONTRASTS = {"Core": (6.37, -0.49, -0.49), "Drop": (6.37, 6.37, -0.49),
                  "Shell": (6.37, -0.49, 6.37)}


@pytest.mark.slow
def test_aot_core_shell_droplets_simultaneous_fit(examples):
    """Core-shell spheres (Schulz core radii) fitted to the three AOT contrasts at once: core
    radius, width and shell thickness shared; volume fraction and background per curve.

    Literature: AOT-stabilised water droplets have water-core radii of a few nm (2-6 nm for
    water/AOT molar ratios w = 10-40, core radius ~ 0.15 w nm: Eastoe et al., Langmuir 1990s;
    Arleth & Pedersen 2001, Phys. Rev. E 63, 061406) and an AOT layer about 1 nm thick (the
    AOT tail length). Loose test: core radius 1.5-6 nm, shell 0.3-2.5 nm. A one-contrast fit
    cannot separate core from shell (the shell thickness collapses to 0 on the drop file);
    the three contrasts together can. Measured: core 2.47 +- 0.03 nm, shell 0.57 +- 0.03 nm,
    chi2_r 18 (the drop contrast, S/N ~ 200, shows ~5 % oscillating residuals: droplet
    interactions and the instrument resolution, absent from the files, are not modelled).
    """
    curves, models, params = [], [], []
    for name, (core, shell, solvent) in _AOT_CONTRASTS.items():
        curves.append(saxs.read_curve(examples / f"AOT_Microemulsion-{name}_Contrast.xml",
                                      drop_invalid=True))
        m = model("core_shell_sphere", "schulz", thickness_nm=1.0, sld_core=core,
                  sld_shell=shell, sld_solvent=solvent) + flat("bg_")
        p = m.make_params(volume_fraction=0.05, radius_nm=3.0, rel_width=0.2, bg_level=0.05)
        p["thickness_nm"].vary = True
        models.append(m)
        params.append(p)
    fit = fit_curves(curves, models, params, shared=("radius_nm", "rel_width", "thickness_nm"))
    assert fit.success
    core, shell = fit.values["radius_nm"], fit.values["thickness_nm"]
    assert 1.5 < core < 6.0
    assert 0.3 < shell < 2.5
    assert all(err is not None and 0 < err < 0.1 for err in fit.errors.values()), fit.errors
    assert fit.chi2_r < 30
    # the droplet (core + shell) agrees with a plain sphere fitted to the drop contrast alone
    sphere = model("sphere", "schulz", contrast_per_cm2=6.86e10) + flat("bg_")
    drop = saxs.fit_curve(curves[1], sphere, volume_fraction=0.05, radius_nm=3.0,
                          rel_width=0.2, bg_level=0.05)
    assert core + shell == pytest.approx(drop.values["radius_nm"], rel=0.05)

