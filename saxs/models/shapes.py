"""Built-in particle shapes besides the sphere (listed in :mod:`saxs.models.registry`).

Every shape computes K(q, s) = V(s) P(q, s) in nm^3 (see :mod:`saxs.models.formfactor`) on a
grid of sizes s (the size parameter, a radius in nm) and q (1/nm), with numpy and
:mod:`scipy.special`; the sphere amplitude comes from :mod:`saxs_kernels.sphere` (Taylor series
below qR = 1, closed form above).

Shapes
------
``core_shell_sphere``
    Core radius R (size), shell thickness t, SLDs of core, shell and solvent (1e-6/A^2).
    Closed form (Guinier & Fournet 1955; Pedersen 1997, Adv. Colloid Interface Sci. 70, 171,
    eq. 15; SasView ``core_shell_sphere``)::

        A(q) = (rho_c - rho_sh) V_c F(qR) + (rho_sh - rho_solv) V F(q (R + t)),
        K(q) = A(q)^2 / (drho_ref^2 V),

    with V_c = 4/3 pi R^3, V = 4/3 pi (R + t)^3 (the whole particle) and F the normalised sphere
    amplitude 3 (sin x - x cos x) / x^3. The reference contrast is
    drho_ref = max(|rho_c - rho_solv|, |rho_sh - rho_solv|) (the larger of the two contrasts
    against the solvent; it must be non-zero), so I(q) = phi drho_ref^2 1e-21 K(q) in 1/cm with
    phi the volume fraction of whole particles. Accuracy: that of F (absolute < 1e-15 of its
    envelope), relative ~1e-15 away from the zeros of A.
``cylinder``
    Radius R (size) and either a fixed length L (``length_nm``) or a fixed aspect ratio
    ``aspect_ratio`` = L / (2 R) (length over diameter), randomly oriented (Guinier & Fournet
    1955; Pedersen 1997 eq. 24; SasView ``cylinder``)::

        P(q) = int_0^{pi/2} [2 J1(q R sin a) / (q R sin a) * sin(q L cos a / 2) / (q L cos a / 2)]^2
               sin a da.

    Extent (largest dimension) sqrt((2R)^2 + L^2).
``disc``
    A cylinder of radius R (size) and fixed thickness t (``thickness_nm``): a platelet.
``spheroid``
    Ellipsoid of revolution with equatorial radius R_e (size) and polar radius
    R_p = ``aspect_ratio`` R_e, randomly oriented (Guinier & Fournet 1955; Pedersen 1997 eq. 5;
    SasView ``ellipsoid``)::

        P(q) = int_0^1 F(q r(u))^2 du,   r(u) = sqrt(R_e^2 (1 - u^2) + R_p^2 u^2).

Orientation averages (our own quadrature, :data:`QUADRATURE_MARGIN`)
---------------------------------------------------------------------
Both integrands are even about the end of the interval that carries the sharpest feature
(a = pi/2 for the cylinder, the long-rod peak; u = 0 for the spheroid), so each is written as
half of a symmetric integral and evaluated with an even-order Gauss-Legendre rule of order 2m on
the symmetric interval, which needs only its m positive nodes x_i. For the cylinder
a_i = pi/2 (1 - x_i), with cos a_i = sin(pi x_i / 2) and sin a_i = cos(pi x_i / 2); for the
spheroid u_i = x_i. This keeps cos a (long rods, narrow peak at a = pi/2) at full relative
precision; the plain rule on [0, pi/2] loses it there (1 - x_i rounded near x_i = 1).

The number of nodes grows with the phase the integrand sweeps,

    m = ceil(omega / 2) + QUADRATURE_MARGIN (16),

with omega = 2 q R + q L for the cylinder and omega = 2 q |R_p - R_e| for the spheroid. The
nodes and weights are our own (:func:`half_gauss_legendre`): scipy's ``roots_legendre`` weights
lose ~1e-8 relative at 8000 nodes, which alone left a 1e-11..1e-10 error floor.

Measured convergence (random points, qR in [0.01, 1000], qL in [0.01, 3000], spheroid aspect
ratios 0.02 .. 50): the smallest m that reproduces a rule with twice the nodes to 1e-12
(cylinder) or 3e-11 (spheroid) never exceeded ceil(omega / 2) + 10; with the margin of 16 the
difference to that doubled rule was < 7e-14, and to mpmath quad at 30 digits < 2e-14
(cylinder: long rods qL = 5000, discs qR = 900, thick 475 x 603) and < 1e-12 (spheroid,
including R_p / R_e = 0.02 at qR = 250). m is rounded up to a ladder of node counts (ratio
~1.19, :data:`NODE_LADDER`) so nodes are shared by many (q, s) points; at most
:data:`MAX_HALF_NODES` (InputError beyond, q (2R + L) > ~16000). Evaluation is chunked to
bound memory (:data:`CHUNK_ELEMENTS` points x nodes per chunk, ~16 MB per temporary).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
from scipy.special import j1

from saxs.curve import frozen_mapping
from saxs.errors import InputError
from saxs.models.formfactor import (
    SLD_UNIT,
    SLD_UNIT_PER_CM2,
    FormFactor,
    ParameterSpec,
    sphere_volume_nm3,
)

#: Extra Gauss-Legendre nodes (m) on top of half the phase swept by the integrand.
QUADRATURE_MARGIN = 16
#: Upper bound of (q, s) points times nodes evaluated at once (~16 MB per float64 temporary).
CHUNK_ELEMENTS = 2_000_000
#: Largest m (positive Gauss-Legendre nodes) of an orientation average: q (2R + L) < ~16000.
MAX_HALF_NODES = 8192
#: Upper bound of (q, s) points evaluated at once by the closed forms.
CHUNK_POINTS = 1_000_000


# --------------------------------------------------------------------------- numerics


def sphere_amplitude(x: np.ndarray) -> np.ndarray:
    """Normalised sphere amplitude F(x) = 3 (sin x - x cos x) / x^3 of any-shape array.

    Uses :func:`saxs_kernels.sphere.sphere_amplitude` (Maclaurin series below |x| = 1, closed
    form above; absolute error < 1e-15 min(1, 3/x^2)).
    """
    from saxs_kernels.sphere import sphere_amplitude as kernel  # noqa: PLC0415  (numba, lazy)

    flat = np.ascontiguousarray(np.asarray(x, dtype=np.float64).ravel())
    return kernel(flat).reshape(np.shape(x))


def _ladder() -> np.ndarray:
    counts = [4]
    while True:
        step = max(counts[-1] + 2, int(math.ceil(counts[-1] * 1.19 / 2.0) * 2))
        if step >= MAX_HALF_NODES:
            return np.array([*counts, MAX_HALF_NODES])
        counts.append(step)


#: Allowed half-orders m (positive nodes of the symmetric 2m-point Gauss-Legendre rule).
NODE_LADDER = _ladder()


def _legendre(n: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P_n(x) and P_n'(x) by the three-term recurrence (stable on [-1, 1])."""
    p_prev = np.ones_like(x)
    p = x.copy()
    for j in range(2, n + 1):
        p_prev, p = p, ((2 * j - 1) * x * p - (j - 1) * p_prev) / j
    return p, n * (p_prev - x * p) / ((1.0 - x) * (1.0 + x))


@lru_cache(maxsize=64)
def half_gauss_legendre(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Positive nodes x_i (ascending) and weights w_i of the 2m-point Gauss-Legendre rule.

    For an even integrand g, int_{-1}^{1} g = 2 sum_i w_i g(x_i). Newton's method on the
    Legendre recurrence from Tricomi's initial guesses, w = 2 / ((1 - x^2) P_2m'(x)^2).
    Measured: nodes within 2.2e-16 of scipy's ``roots_legendre``; sum_i w_i x_i^(2k) exact to
    < 1e-12 relative for 2k <= 6000 at m = 4000, where scipy's weights are off by 8e-9 (and
    scipy's Golub-Welsch takes 5 s at n = 8000, this 1 s). Cost O(m^2); m <=
    :data:`MAX_HALF_NODES`.
    """
    if not 0 < m <= MAX_HALF_NODES:
        raise ValueError(f"half_gauss_legendre: m = {m} outside [1, {MAX_HALF_NODES}]")
    n = 2 * m
    k = np.arange(m, 0, -1, dtype=np.float64)
    x = np.cos((4.0 * k - 1.0) * math.pi / (4.0 * n + 2.0)) * (1.0 - (n - 1.0) / (8.0 * n**3))
    for _ in range(20):
        p, dp = _legendre(n, x)
        step = p / dp
        x = x - step
        if np.max(np.abs(step)) < 1e-15:
            break
    _, dp = _legendre(n, x)
    w = 2.0 / ((1.0 - x) * (1.0 + x) * dp * dp)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


def node_levels(needed: np.ndarray) -> np.ndarray:
    """Index into :data:`NODE_LADDER` of the smallest count >= ``needed`` (elementwise)."""
    return np.searchsorted(NODE_LADDER, needed, side="left")


def _by_level(needed: np.ndarray, evaluate: Any, positive: np.ndarray,
              owner: str) -> np.ndarray:
    """Evaluate ``evaluate(flat_indices, m)`` grouped by node count; returns the flat result.

    ``needed`` (n_sizes, n_q) holds the node count required at every point; points are grouped
    on the ladder and processed in chunks of at most :data:`CHUNK_ELEMENTS` points x nodes.
    Points in columns where ``positive`` (q > 0) is False are set to P(0) = 1.
    """
    valid = np.broadcast_to(positive[None, :], needed.shape).ravel()
    flat_needed = needed.ravel()
    out = np.ones(flat_needed.size)
    levels = node_levels(flat_needed)
    if np.any(levels[valid] >= NODE_LADDER.size):
        raise InputError(f"{owner}: the orientation average needs "
                         f"{int(flat_needed[valid].max())} > {MAX_HALF_NODES} quadrature nodes "
                         "at the largest q x size; restrict the q range or the sizes")
    for level in np.unique(levels[valid]):
        m = int(NODE_LADDER[level])
        indices = np.flatnonzero((levels == level) & valid)
        step = max(1, CHUNK_ELEMENTS // m)
        for start in range(0, indices.size, step):
            chunk = indices[start:start + step]
            out[chunk] = evaluate(chunk, m)
    return out


def cylinder_form_factor(q_nm: np.ndarray, radius_nm: np.ndarray, length_nm: np.ndarray,
                         owner: str = "cylinder") -> np.ndarray:
    """Orientation-averaged form factor P(q) of cylinders, shape (n_sizes, n_q), P(0) = 1.

    Parameters
    ----------
    q_nm : ndarray, 1-D
        Scattering vector (1/nm), >= 0.
    radius_nm, length_nm : ndarray, 1-D, same length
        Radius and length of each cylinder (nm), > 0.

    Notes
    -----
    P(q) = int_0^{pi/2} [2 J1(qR sin a)/(qR sin a) sinc(qL cos a / 2)]^2 sin a da
    (Guinier & Fournet 1955; Pedersen 1997 eq. 24). Gauss-Legendre with
    m = ceil((2qR + qL)/2) + 16 positive nodes of a symmetric rule (module docstring);
    relative error < 1e-12 (measured < 2e-14 against mpmath).
    """
    qr = radius_nm[:, None] * q_nm[None, :]
    ql = length_nm[:, None] * q_nm[None, :]
    needed = np.ceil(0.5 * (2.0 * qr + ql)) + QUADRATURE_MARGIN
    qr_flat, ql_flat = qr.ravel(), ql.ravel()

    def evaluate(chunk: np.ndarray, m: int) -> np.ndarray:
        # all nodes have 0 < a < pi/2, and q > 0 here: no 0/0 limits to guard
        x, w = half_gauss_legendre(m)
        half_cos_a = 0.5 * np.sin(0.5 * math.pi * x)
        sin_a = np.cos(0.5 * math.pi * x)
        arg = qr_flat[chunk, None] * sin_a
        amp = j1(arg)
        amp *= 2.0
        amp /= arg
        arg = np.multiply(ql_flat[chunk, None], half_cos_a, out=arg)
        factor = np.sin(arg)
        factor /= arg
        amp *= factor
        amp *= amp
        return amp @ (0.5 * math.pi * w * sin_a)

    return _by_level(needed, evaluate, q_nm > 0, owner).reshape(qr.shape)


def spheroid_form_factor(q_nm: np.ndarray, equatorial_nm: np.ndarray, polar_nm: np.ndarray,
                         owner: str = "spheroid") -> np.ndarray:
    """Orientation-averaged form factor P(q) of spheroids, shape (n_sizes, n_q), P(0) = 1.

    Parameters
    ----------
    q_nm : ndarray, 1-D
        Scattering vector (1/nm), >= 0.
    equatorial_nm, polar_nm : ndarray, 1-D, same length
        Equatorial and polar radii (nm), > 0.

    Notes
    -----
    P(q) = int_0^1 F(q r(u))^2 du, r(u) = sqrt(R_e^2 (1 - u^2) + R_p^2 u^2), F the sphere
    amplitude (Guinier & Fournet 1955; Pedersen 1997 eq. 5). Gauss-Legendre with
    m = ceil(q |R_p - R_e|) + 16 positive nodes of the symmetric rule on [-1, 1]; relative
    error < 1e-11 (measured < 1e-12 against mpmath). For R_p = R_e the integrand is constant
    and P equals the sphere's to rounding.
    """
    qe = equatorial_nm[:, None] * q_nm[None, :]
    ratio = (polar_nm / equatorial_nm)[:, None] * np.ones_like(q_nm)[None, :]
    needed = np.ceil(np.abs(ratio - 1.0) * qe) + QUADRATURE_MARGIN
    qe_flat, ratio_flat = qe.ravel(), ratio.ravel()

    def evaluate(chunk: np.ndarray, m: int) -> np.ndarray:
        u, w = half_gauss_legendre(m)
        u2 = u * u
        v2m1 = (ratio_flat[chunk] - 1.0) * (ratio_flat[chunk] + 1.0)
        r = qe_flat[chunk, None] * np.sqrt(1.0 + v2m1[:, None] * u2)
        amp = sphere_amplitude(r)
        return (amp * amp) @ w

    return _by_level(needed, evaluate, q_nm > 0, owner).reshape(qe.shape)


# --------------------------------------------------------------------------- shapes


def _positive(owner: str, name: str, value: float) -> None:
    if not value > 0.0:
        raise InputError(f"{owner}: parameter {name} = {value!r} must be > 0")


class _Validated(FormFactor):
    """A built-in shape whose listed parameters must be strictly positive."""

    POSITIVE: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **parameters: Any) -> None:
        super().__init__(**parameters)
        for name in self.POSITIVE:
            if name in self.parameters:
                _positive(self.label, name, self.parameters[name])


def _sld(name: str, what: str) -> ParameterSpec:
    return ParameterSpec(name, SLD_UNIT, description=f"scattering length density of the {what}")


class CoreShellSphere(_Validated):
    """Core-shell sphere, closed form (module docstring): size = core radius (nm).

    Parameters (fixed): ``thickness_nm`` (shell, >= 0), ``sld_core``, ``sld_shell``,
    ``sld_solvent`` (1e-6/A^2). ``contrast_per_cm2`` is the reference contrast
    max(|sld_core - sld_solvent|, |sld_shell - sld_solvent|) x 1e10 1/cm^2; K = V P with V the
    whole particle (core + shell). Accuracy ~1e-15 relative away from the zeros of the amplitude.
    """

    name = "core_shell_sphere"
    size = ParameterSpec("radius_nm", "nm", lower=0.0, description="core radius")
    PARAMETERS = (
        ParameterSpec("thickness_nm", "nm", lower=0.0, description="shell thickness"),
        _sld("sld_core", "core"),
        _sld("sld_shell", "shell"),
        _sld("sld_solvent", "solvent"),
    )
    description = "core-shell sphere (closed form), size = core radius"

    def __init__(self, **parameters: Any) -> None:
        super().__init__(**parameters)
        if self._reference_sld() == 0.0:
            p = self.parameters
            raise InputError(f"{self.label}: sld_core = {p['sld_core']:g} and sld_shell = "
                             f"{p['sld_shell']:g} both equal sld_solvent = "
                             f"{p['sld_solvent']:g}: the particle does not scatter")

    def _reference_sld(self) -> float:
        p = self.parameters
        return max(abs(p["sld_core"] - p["sld_solvent"]), abs(p["sld_shell"] - p["sld_solvent"]))

    @property
    def contrast_per_cm2(self) -> float:
        """Reference contrast max(|sld_core - sld_solvent|, |sld_shell - sld_solvent|), 1/cm^2."""
        return self._reference_sld() * SLD_UNIT_PER_CM2

    def _volume(self, sizes: np.ndarray) -> np.ndarray:
        return sphere_volume_nm3(sizes + self.parameters["thickness_nm"])

    def _extent(self, sizes: np.ndarray) -> np.ndarray:
        return 2.0 * (sizes + self.parameters["thickness_nm"])

    def _kernel(self, q: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        p = self.parameters
        ref = self._reference_sld()
        core_term = (p["sld_core"] - p["sld_shell"]) / ref * sphere_volume_nm3(sizes)
        outer = sizes + p["thickness_nm"]
        volume = sphere_volume_nm3(outer)
        shell_term = (p["sld_shell"] - p["sld_solvent"]) / ref * volume
        out = np.empty((sizes.size, q.size))
        step = max(1, CHUNK_POINTS // max(q.size, 1))
        for start in range(0, sizes.size, step):
            part = slice(start, start + step)
            amp = (core_term[part, None] * sphere_amplitude(sizes[part, None] * q[None, :])
                   + shell_term[part, None] * sphere_amplitude(outer[part, None] * q[None, :]))
            out[part] = amp * amp / volume[part, None]
        return out


class Cylinder(_Validated):
    """Randomly oriented homogeneous cylinder: size = radius R (nm).

    Exactly one of ``length_nm`` (fixed length L, nm) or ``aspect_ratio`` (L / (2R), length
    over diameter, so L grows with R) is given. K = pi R^2 L P(q) with P the orientation
    average of the module docstring (relative error < 1e-12); extent sqrt((2R)^2 + L^2).
    """

    name = "cylinder"
    PARAMETERS = (
        ParameterSpec("length_nm", "nm", lower=0.0, description="fixed cylinder length"),
        ParameterSpec("aspect_ratio", "", lower=0.0,
                      description="length / diameter, L / (2 R) (fixed shape, L grows with R)"),
    )
    POSITIVE = ("length_nm", "aspect_ratio")
    description = "randomly oriented cylinder, fixed length or fixed aspect ratio L/(2R)"

    def __init__(self, **parameters: Any) -> None:
        choices = ("length_nm", "aspect_ratio")
        known = {spec.name for spec in self.PARAMETERS}
        for name in parameters:
            if name not in known and name != self.size.name:
                raise InputError(f"{self.label}: unknown parameter {name!r}; the fixed "
                                 f"parameters are {sorted(known)} (exactly one of them)")
        given = [name for name in choices if name in parameters]
        if len(given) != 1:
            raise InputError(f"{self.label}: give exactly one of length_nm (fixed length, nm) "
                             f"or aspect_ratio (length / diameter), got "
                             f"{sorted(given) or 'neither'}")
        specs = tuple(spec for spec in self.PARAMETERS if spec.name in given)
        values = self._check_parameters(self.label, specs, self.size, parameters)
        object.__setattr__(self, "_parameters", frozen_mapping(values))
        for name in given:
            _positive(self.label, name, self.parameters[name])

    @property
    def parameter_units(self) -> dict[str, str]:
        """Unit of the size parameter and of the fixed parameter in use."""
        units = {spec.name: spec.unit for spec in self.PARAMETERS}
        return {self.size.name: self.size.unit, **{k: units[k] for k in self.parameters}}

    def lengths_nm(self, sizes: np.ndarray) -> np.ndarray:
        """Cylinder length L (nm) for each radius: fixed, or 2 aspect_ratio R."""
        p = self.parameters
        if "length_nm" in p:
            return np.full(np.shape(sizes), p["length_nm"])
        return 2.0 * p["aspect_ratio"] * np.asarray(sizes, dtype=np.float64)

    def _volume(self, sizes: np.ndarray) -> np.ndarray:
        return math.pi * sizes**2 * self.lengths_nm(sizes)

    def _extent(self, sizes: np.ndarray) -> np.ndarray:
        return np.hypot(2.0 * sizes, self.lengths_nm(sizes))

    def _kernel(self, q: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        return (self._volume(sizes)[:, None]
                * cylinder_form_factor(q, sizes, self.lengths_nm(sizes), self.label))


class Disc(_Validated):
    """Randomly oriented platelet: a cylinder of radius R (size, nm) and fixed thickness.

    ``thickness_nm`` (> 0) is the cylinder's length. Same quadrature and accuracy as
    :class:`Cylinder`; extent sqrt((2R)^2 + t^2).
    """

    name = "disc"
    PARAMETERS = (ParameterSpec("thickness_nm", "nm", lower=0.0,
                                description="disc thickness (cylinder length)"),)
    POSITIVE = ("thickness_nm",)
    description = "randomly oriented disc (cylinder of fixed thickness), size = radius"

    def _volume(self, sizes: np.ndarray) -> np.ndarray:
        return math.pi * sizes**2 * self.parameters["thickness_nm"]

    def _extent(self, sizes: np.ndarray) -> np.ndarray:
        return np.hypot(2.0 * sizes, self.parameters["thickness_nm"])

    def _kernel(self, q: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        lengths = np.full(sizes.shape, self.parameters["thickness_nm"])
        return self._volume(sizes)[:, None] * cylinder_form_factor(q, sizes, lengths,
                                                                   self.label)


class Spheroid(_Validated):
    """Randomly oriented ellipsoid of revolution: size = equatorial radius R_e (nm).

    ``aspect_ratio`` = R_p / R_e (> 0; < 1 oblate, > 1 prolate). K = 4/3 pi R_e^2 R_p P(q)
    with P the orientation average of the module docstring (relative error < 1e-11);
    extent 2 max(R_e, R_p).
    """

    name = "spheroid"
    PARAMETERS = (ParameterSpec("aspect_ratio", "", lower=0.0,
                                description="polar / equatorial radius"),)
    POSITIVE = ("aspect_ratio",)
    description = "randomly oriented spheroid, size = equatorial radius"

    def _volume(self, sizes: np.ndarray) -> np.ndarray:
        return 4.0 / 3.0 * math.pi * sizes**3 * self.parameters["aspect_ratio"]

    def _extent(self, sizes: np.ndarray) -> np.ndarray:
        return 2.0 * sizes * max(1.0, self.parameters["aspect_ratio"])

    def _kernel(self, q: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        polar = sizes * self.parameters["aspect_ratio"]
        return self._volume(sizes)[:, None] * spheroid_form_factor(q, sizes, polar, self.label)
