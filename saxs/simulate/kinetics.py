"""A stopped-flow series: one species converting into another, then continuous growth.

The measurement's ``kinetics`` section of a scenario (``data_samples/stopped_flow.yaml``)::

    kinetics:
      frame_period_s: 2.0        # time between frame starts; frame k is taken at t = k period
      rate_per_s: 0.12           # first-order rate constant k of A -> B
      reactant: {radius_nm: 0.87, rel_width: 0.015, volume_fraction: 1.2e-3}   # A at t = 0
      product: {radius_nm: 0.94, rel_width: 0.015}                            # B
      growth: {onset_s: 24.0, radius_nm: 1.3, radius_rate_nm_per_s: 0.025,
               rel_width: 0.10, volume_fraction_rate_per_s: 4.0e-5}

A -> B is first order and conserves the number of clusters, so with n(t) the number density
of A, ``phi_A(t) = phi_A(0) exp(-k t)`` and ``phi_B(t) = phi_A(0) (V_B / V_A) (1 - exp(-k t))``
(V: mean particle volume; equal relative widths make V_B / V_A = (R_B / R_A)^3). From
``onset_s`` on, regular nanocrystals (log-normal) appear and grow: mean radius
``radius_nm + radius_rate (t - onset)``, volume fraction ``volume_fraction_rate (t - onset)``
(fed by monomer, so A and B are not consumed by it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from saxs.errors import InputError
from saxs.models.distributions import Species
from saxs.simulate.config import Section


@dataclass(frozen=True)
class Growth:
    """Continuous growth of regular nanocrystals from ``onset_s`` on (lengths nm, times s)."""

    onset_s: float
    radius_nm: float
    radius_rate_nm_per_s: float
    rel_width: float
    volume_fraction_rate_per_s: float

    def __post_init__(self) -> None:
        if not (self.onset_s >= 0 and self.radius_nm > 0 and self.rel_width > 0
                and self.volume_fraction_rate_per_s > 0 and self.radius_rate_nm_per_s >= 0):
            raise InputError(f"kinetics.growth: need onset_s >= 0, radius_nm > 0, rel_width > "
                             f"0, volume_fraction_rate_per_s > 0, radius_rate_nm_per_s >= 0; "
                             f"got {self}")

    def species_at(self, t_s: float) -> Species | None:
        """The growing population at ``t_s`` (None before the onset)."""
        if t_s <= self.onset_s:
            return None
        dt = t_s - self.onset_s
        return Species(radius_nm=self.radius_nm + self.radius_rate_nm_per_s * dt,
                       volume_fraction=self.volume_fraction_rate_per_s * dt,
                       rel_width=self.rel_width, shape="lognormal")


@dataclass(frozen=True)
class Kinetics:
    """A -> B (first order, rate ``rate_per_s``) and optional continuous growth."""

    frame_period_s: float
    rate_per_s: float
    reactant: Species
    product_radius_nm: float
    product_rel_width: float
    growth: Growth | None = None

    def __post_init__(self) -> None:
        if not (self.frame_period_s > 0 and self.rate_per_s > 0 and self.product_radius_nm > 0
                and self.product_rel_width >= 0):
            raise InputError(f"kinetics: frame_period_s, rate_per_s and product radius_nm must "
                             f"be > 0; got {self.frame_period_s}, {self.rate_per_s}, "
                             f"{self.product_radius_nm}")

    def times_s(self, n_frames: int) -> np.ndarray:
        """Start time of each frame, s from the first."""
        return np.arange(n_frames) * self.frame_period_s

    def fractions_at(self, t_s: float) -> dict[str, float]:
        """True volume fractions of A, B and the growing crystals at ``t_s``."""
        left = math.exp(-self.rate_per_s * t_s)
        phi0 = self.reactant.volume_fraction
        ratio = (self.product_radius_nm / self.reactant.radius_nm) ** 3
        grown = self.growth.species_at(t_s) if self.growth else None
        return {"A": phi0 * left, "B": phi0 * ratio * (1.0 - left),
                "growth": grown.volume_fraction if grown else 0.0}

    def product_species(self, phi: float) -> Species:
        """B with volume fraction ``phi``."""
        return Species(radius_nm=self.product_radius_nm, volume_fraction=phi,
                       rel_width=self.product_rel_width, shape=self.reactant.shape,
                       weighting=self.reactant.weighting)

    def populations_at(self, t_s: float) -> tuple[Species, ...]:
        """The species present at ``t_s`` (those with a volume fraction above zero)."""
        phi = self.fractions_at(t_s)
        a = self.reactant
        out = []
        if phi["A"] > 0:
            out.append(Species(radius_nm=a.radius_nm, volume_fraction=phi["A"],
                               rel_width=a.rel_width, shape=a.shape, weighting=a.weighting))
        if phi["B"] > 0:
            out.append(self.product_species(phi["B"]))
        grown = self.growth.species_at(t_s) if self.growth else None
        if grown is not None:
            out.append(grown)
        return tuple(out)

    def truth_table(self, n_frames: int) -> str:
        """CSV: time and true volume fractions (and the growing radius) of every frame."""
        lines = ["time_s,phi_A,phi_B,phi_growth,growth_radius_nm"]
        for t in self.times_s(n_frames):
            phi = self.fractions_at(float(t))
            grown = self.growth.species_at(float(t)) if self.growth else None
            lines.append(",".join(repr(float(v)) for v in (
                t, phi["A"], phi["B"], phi["growth"], grown.radius_nm if grown else math.nan)))
        return "\n".join(lines) + "\n"


def _species(sec: Section, need_fraction: bool) -> dict:
    values = {"radius_nm": sec.get("radius_nm", kind=float),
              "rel_width": sec.get("rel_width", 0.015, float)}
    if need_fraction:
        values["volume_fraction"] = sec.get("volume_fraction", kind=float)
    sec.done()
    return values


def kinetics_from_section(sec: Section) -> Kinetics:
    """Parse a measurement's ``kinetics`` section (see the module docstring)."""
    a = _species(sec.section("reactant", required=True), True)
    b = _species(sec.section("product", required=True), False)
    growth = None
    if "growth" in sec.data:
        g = sec.section("growth")
        growth = Growth(onset_s=g.get("onset_s", kind=float), radius_nm=g.get("radius_nm",
                                                                               kind=float),
                        radius_rate_nm_per_s=g.get("radius_rate_nm_per_s", 0.0, float),
                        rel_width=g.get("rel_width", 0.1, float),
                        volume_fraction_rate_per_s=g.get("volume_fraction_rate_per_s",
                                                         kind=float))
        g.done()
    else:
        sec.used.add("growth")
    kinetics = Kinetics(frame_period_s=sec.get("frame_period_s", kind=float),
                        rate_per_s=sec.get("rate_per_s", kind=float),
                        reactant=Species(**a), product_radius_nm=b["radius_nm"],
                        product_rel_width=b["rel_width"], growth=growth)
    sec.done()
    return kinetics
