"""Tests of saxs.models.bridge: any 1-D sasmodels model as a FormFactor.

The reference is sasmodels itself, called directly here (``load_model`` + ``call_kernel``,
scale = 1, background = 0, lengths in A, q in 1/A), independently of the bridge's code path.
"""

from __future__ import annotations

import math
import os
import pickle
from types import SimpleNamespace

import numpy as np
import pytest

os.environ.setdefault("SAS_OPENCL", "none")
sasmodels_core = pytest.importorskip("sasmodels.core")
from sasmodels import direct_model  # noqa: E402

from saxs.errors import InputError  # noqa: E402
from saxs.models import bridge, shapes  # noqa: E402
from saxs.models.bridge import SasmodelsFormFactor, check_model, sasmodel  # noqa: E402
from saxs.models.registry import form_factor  # noqa: E402

Q_NM = np.geomspace(0.01, 10.0, 50)
SIZES_NM = np.array([0.3, 1.0, 2.7, 8.0, 25.0])


def direct_intensity(model: str, q_nm: np.ndarray, **pars_a: float) -> np.ndarray:
    """sasmodels' I(q) in 1/cm, parameters in its own units (A), q given in 1/nm."""
    kernel_model = sasmodels_core.load_model(model, dtype="double", platform="dll")
    kernel = kernel_model.make_kernel([np.asarray(q_nm) / 10.0])
    pars = {"scale": 1.0, "background": 0.0, **pars_a}
    return np.asarray(direct_model.call_kernel(kernel, pars, mono=True))


# --------------------------------------------------------------------------- numbers

CASES = [
    # (model, bridge kwargs, sasmodels pars of size r (A), reference SLD contrast)
    ("sphere", {}, lambda r: {"radius": 10 * r, "sld": 1.0, "sld_solvent": 0.0}, None),
    ("sphere", {"sld": 4.0, "sld_solvent": 1.0},
     lambda r: {"radius": 10 * r, "sld": 4.0, "sld_solvent": 1.0}, 3.0),
    ("core_shell_sphere", {"thickness_nm": 1.5, "sld_core": 42.3, "sld_shell": 8.0,
                           "sld_solvent": 7.6},
     lambda r: {"radius": 10 * r, "thickness": 15.0, "sld_core": 42.3, "sld_shell": 8.0,
                "sld_solvent": 7.6}, 34.7),
    ("cylinder", {"length_nm": 20.0},
     lambda r: {"radius": 10 * r, "length": 200.0, "sld": 1.0, "sld_solvent": 0.0}, None),
    ("ellipsoid", {"size": "radius_equatorial", "radius_polar_nm": 6.0},
     lambda r: {"radius_equatorial": 10 * r, "radius_polar": 60.0, "sld": 1.0,
                "sld_solvent": 0.0}, None),
]


@pytest.mark.parametrize(("model", "kwargs", "pars", "ref_sld"), CASES)
def test_bridge_equals_direct_sasmodels(model, kwargs, pars, ref_sld):
    shape = sasmodel(model, **kwargs)
    assert shape.label == f"sasmodels:{model}"
    if ref_sld is None:
        assert shape.contrast_per_cm2 is None
        contrast = 1e10  # 1e-6/A^2, the unit SLD the homogeneous evaluation uses
    else:
        assert shape.contrast_per_cm2 == pytest.approx(ref_sld * 1e10, rel=1e-14)
        contrast = shape.contrast_per_cm2
    ours = shape.intensity_per_cm(Q_NM, SIZES_NM, volume_fraction=1.0,
                                  contrast_per_cm2=None if ref_sld else contrast)
    direct = np.array([direct_intensity(model, Q_NM, **pars(r)) for r in SIZES_NM])
    np.testing.assert_allclose(ours, direct, rtol=1e-10, atol=0)


def test_hollow_shape_is_normalised_by_the_whole_particle():
    """vesicle: sasmodels divides by the shell volume, we by the whole particle's."""
    thickness = 2.0
    shape = sasmodel("vesicle", thickness_nm=thickness)
    assert shape.contrast_per_cm2 is None
    outer = SIZES_NM + thickness
    v_form = 4.0 / 3.0 * math.pi * outer**3
    v_shell = v_form - 4.0 / 3.0 * math.pi * SIZES_NM**3
    np.testing.assert_allclose(shape.volume_nm3(SIZES_NM), v_form, rtol=1e-13)
    direct = np.array([direct_intensity("vesicle", Q_NM, radius=10 * r, thickness=20.0,
                                        sld=1.0, sld_solvent=0.0) for r in SIZES_NM])
    k = shape.intensity(Q_NM, SIZES_NM)
    np.testing.assert_allclose(0.1 * k, direct * (v_shell / v_form)[:, None], rtol=1e-10)


def test_units_and_parameters():
    shape = sasmodel("cylinder", length_nm=20.0)
    assert shape.size_parameter == "radius_nm"
    assert shape.parameter_units == {"radius_nm": "nm", "length_nm": "nm"}
    pars = shape.sasmodels_parameters(2.0)
    assert pars == {"scale": 1.0, "background": 0.0, "radius": 20.0, "length": 200.0,
                    "sld": 1.0, "sld_solvent": 0.0}
    np.testing.assert_allclose(shape.volume_nm3(SIZES_NM), math.pi * SIZES_NM**2 * 20.0,
                               rtol=1e-14)
    np.testing.assert_allclose(shape.max_dimension_nm([3.0]), [2 * 3.0 + 20.0])
    # forward scattering of a homogeneous shape is its volume (K = V P, P(0) = 1)
    np.testing.assert_allclose(shape.intensity([0.0], SIZES_NM)[:, 0],
                               shape.volume_nm3(SIZES_NM), rtol=1e-13)
    cs = sasmodel("core_shell_sphere", thickness_nm=1.0, sld_core=3.0, sld_shell=2.0,
                  sld_solvent=1.0)
    assert cs.parameter_units["sld_core"] == "1e-6/A^2"
    np.testing.assert_allclose(cs.max_dimension_nm([2.0]), [6.0])
    # non-length parameters keep sasmodels' names, units and defaults
    vesicle = sasmodel("vesicle", thickness_nm=1.0)
    assert vesicle.parameters["volfraction"] == pytest.approx(0.05)


def test_explicit_slds_give_the_same_k():
    homogeneous = sasmodel("cylinder", length_nm=12.0)
    explicit = sasmodel("cylinder", length_nm=12.0, sld=4.0, sld_solvent=1.0)
    assert explicit.contrast_per_cm2 == pytest.approx(3e10)
    np.testing.assert_allclose(explicit.intensity(Q_NM, SIZES_NM),
                               homogeneous.intensity(Q_NM, SIZES_NM), rtol=1e-13)
    with pytest.raises(InputError, match="contrast"):
        homogeneous.intensity_per_cm(Q_NM, SIZES_NM, volume_fraction=0.01)


def test_bridge_matches_our_builtins():
    np.testing.assert_allclose(sasmodel("sphere").intensity(Q_NM, SIZES_NM),
                               form_factor("sphere").intensity(Q_NM, SIZES_NM), rtol=1e-9)
    params = {"thickness_nm": 1.0, "sld_core": 5.0, "sld_shell": 2.0, "sld_solvent": 1.0}
    ours = form_factor("core_shell_sphere", **params)
    theirs = sasmodel("core_shell_sphere", **params)
    assert ours.contrast_per_cm2 == theirs.contrast_per_cm2
    np.testing.assert_allclose(theirs.intensity(Q_NM, SIZES_NM), ours.intensity(Q_NM, SIZES_NM),
                               rtol=1e-9)


# --------------------------------------------------------------------------- routing


def test_form_factor_routing():
    assert isinstance(form_factor("cylinder", length_nm=20.0), shapes.Cylinder)
    bridged = form_factor("sasmodels:cylinder", length_nm=20.0)
    assert isinstance(bridged, SasmodelsFormFactor)
    assert bridged == sasmodel("cylinder", length_nm=20.0)
    assert bridged != form_factor("cylinder", length_nm=20.0)
    lamellar = form_factor("lamellar")
    assert lamellar.label == "sasmodels:lamellar"
    assert lamellar.size_parameter == "thickness_nm"
    # lamellar is not volume-normalised in sasmodels: placeholder volume 1 A^3
    np.testing.assert_allclose(lamellar.volume_nm3([4.0]), [1e-3])
    direct = direct_intensity("lamellar", Q_NM, thickness=40.0, sld=1.0, sld_solvent=0.0)
    np.testing.assert_allclose(0.1 * lamellar.intensity(Q_NM, [4.0])[0], direct, rtol=1e-10)


def test_size_parameter_choice():
    assert sasmodel("cylinder", length_nm=5.0).size_parameter == "radius_nm"
    by_length = sasmodel("cylinder", size="length", radius_nm=2.0)
    assert by_length.size_parameter == "length_nm"
    assert sasmodel("cylinder", size="length_nm", radius_nm=2.0) == by_length
    np.testing.assert_allclose(by_length.volume_nm3([10.0]), [math.pi * 4.0 * 10.0])
    # no "radius": the first volume length (ellipsoid: radius_polar)
    assert sasmodel("ellipsoid", radius_equatorial_nm=2.0).size_parameter == "radius_polar_nm"


@pytest.mark.parametrize("shape", [
    lambda: sasmodel("cylinder", length_nm=20.0),
    lambda: sasmodel("cylinder", size="length", radius_nm=2.0, sld=3.0, sld_solvent=1.0),
    lambda: sasmodel("core_shell_sphere", thickness_nm=1.0, sld_core=3.0, sld_shell=2.0,
                     sld_solvent=1.0),
    lambda: form_factor("lamellar"),
])
def test_pickle_round_trip(shape):
    original = shape()
    again = pickle.loads(pickle.dumps(original))
    assert again == original
    assert again.to_dict() == original.to_dict()
    assert form_factor(original.to_dict()) == original
    np.testing.assert_array_equal(again.intensity(Q_NM, [1.0, 3.0]),
                                  original.intensity(Q_NM, [1.0, 3.0]))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("name", "kwargs", "match"), [
    ("no_such_model", {}, r"unknown model 'no_such_model': not one of the \d+ models of sasmodels"),
    ("hardsphere", {}, r"sasmodels:hardsphere is a structure factor"),
    ("guinier", {}, r"sasmodels:guinier has no volume parameter"),
    ("cylinder", {"size": "width", "length_nm": 2.0},
     r"size parameter 'width' .* radius_nm, length_nm"),
    ("cylinder", {}, r"sasmodels:cylinder: parameter length_nm \(nm\) is required"),
    ("cylinder", {"length_nm": -1.0}, r"parameter length_nm = -1.0 is outside \[0, inf\]"),
    ("cylinder", {"length_nm": 2.0, "colour": 1}, r"unknown parameter 'colour'"),
    ("cylinder", {"length": 20.0}, r"give length in nm as length_nm"),
    ("cylinder", {"length_nm": 2.0, "theta": 30.0}, r"orientation parameter 'theta'"),
    ("cylinder", {"length_nm": 2.0, "sld_M0": 1.0}, r"magnetic parameter 'sld_M0'"),
    ("cylinder", {"length_nm": 2.0, "background": 0.1}, r"background is not a shape parameter"),
    ("cylinder", {"length_nm": 2.0, "sld": 3.0}, r"parameter sld_solvent .* is required"),
    ("cylinder", {"length_nm": 2.0, "sld": 3.0, "sld_solvent": 3.0}, r"give no contrast"),
    ("cylinder", {"length_nm": 2.0, "radius_nm": 1.0}, r"radius_nm is the size parameter"),
    ("core_shell_sphere", {"thickness_nm": 1.0},
     r"core_shell_sphere: parameter sld_core \(1e-6/A\^2\) is required"),
    ("vesicle", {"thickness_nm": 1.0, "volfraction": 2.0}, r"volfraction = 2.0 is outside"),
    ("", {}, r"must be a sasmodels name"),
])
def test_bad_inputs(name, kwargs, match):
    with pytest.raises(InputError, match=match):
        sasmodel(name, **kwargs)


def test_unknown_name_lists_the_builtin_shapes():
    with pytest.raises(InputError, match=(r"unknown model 'no_such_model': the built-in shapes "
                                          r"are core_shell_sphere, cylinder.*any 1-D sasmodels")):
        form_factor("no_such_model")


def test_two_dimensional_only_model_is_rejected():
    fake = SimpleNamespace(structure_factor=False, Iq=None, Fq=None, have_Fq=False,
                           compiled=False, Iqxy=lambda qx, qy: qx)
    with pytest.raises(InputError, match=r"sasmodels:oriented_only defines only 2-D"):
        check_model("oriented_only", fake)
    # and a real 1-D C model passes the same check
    check_model("cylinder", bridge._model_info("cylinder"))


def test_messages_are_one_line():
    with pytest.raises(InputError) as info:
        sasmodel("no_such_model")
    assert "\n" not in str(info.value)
