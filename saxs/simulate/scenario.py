"""A beamtime scenario (YAML) -> the measurements to simulate, with their true I(q).

The scenario file has the sections ``seed``, ``collection``, ``beam``, ``detector``,
``acquisition``, ``cell``, ``solvent``, ``sample_thickness_cm`` and ``measurements`` (see
``data_samples/scenario.yaml`` for a commented example). Every measurement is one cell content
in the same Kapton flow cell: ``empty_cell`` (nothing), ``solvent``, ``sample`` (spheres in the
solvent) or ``precursor`` (mesophase Bragg peaks and a broad low-q feature in the solvent).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from saxs.errors import InputError
from saxs.geometry import Geometry
from saxs.models.distributions import Species
from saxs.simulate.config import Section
from saxs.simulate.detector import Beamstop, DetectorModel
from saxs.simulate.kinetics import Kinetics, kinetics_from_section
from saxs.simulate.measurement import Beam, Outliers
from saxs.simulate.models import (
    BraggPeak,
    BroadPeak,
    FlatBackground,
    KaptonWindow,
    SampleModel,
    Spheres,
)
from saxs.units import energy_kev_to_wavelength_m

KINDS = ("sample", "solvent", "empty_cell", "precursor")
FILE_FORMATS = ("lima", "edf")


@dataclass(frozen=True)
class Acquisition:
    """Frames per stack, exposure, file format and compression."""

    n_frames: int = 5
    exposure_time_s: float = 0.1
    file_format: str = "lima"
    compression: str = "bitshuffle-lz4"
    dark_frames: int = 10
    start_epoch: float = 1.7e9


@dataclass(frozen=True)
class Measurement:
    """One stack to simulate.

    ``content`` is the cell content's cross-section (1/cm, None for the empty cell), ``signal``
    what remains after subtracting ``solvent_volume_fraction`` times the solvent: the answer a
    reduction must recover.
    """

    name: str
    kind: str
    scan: int
    content: SampleModel | None
    signal: SampleModel | None
    solvent_volume_fraction: float
    transmission: float
    n_frames: int
    outliers: Outliers
    temperature_c: float | None = None
    growth_temperature_c: float | None = None
    reaction_time_s: float | None = None
    series: str = ""
    populations: tuple[Species, ...] = ()
    kinetics: Kinetics | None = None


@dataclass(frozen=True)
class Cell:
    """The Kapton flow cell: total window thickness, transmission, window scattering."""

    window_thickness_cm: float
    transmission: float
    window: KaptonWindow


@dataclass(frozen=True)
class Scenario:
    """Everything needed to write a simulated beamtime folder."""

    seed: int
    collection: str
    detector_name: str
    detector: DetectorModel
    beam: Beam
    acquisition: Acquisition
    cell: Cell
    solvent_name: str
    solvent: FlatBackground
    solvent_transmission: float
    sample_thickness_cm: float
    measurements: tuple[Measurement, ...] = field(default=())
    source: str = ""

    def measurement(self, name: str) -> Measurement:
        """The measurement called ``name``."""
        for m in self.measurements:
            if m.name == name:
                return m
        raise InputError(f"{self.source}: no measurement named {name!r}; there are "
                         f"{', '.join(m.name for m in self.measurements)}")

    @property
    def normalization_factor(self) -> float:
        """``NormalizationFactor`` that makes the normalised intensity 1/cm of sample content.

        I_norm = (raw - dark) NF / (I1 Omega P F) = sum_l d_l dSigma_l * NF / g1, so
        NF = g1 / d_sample (ID02 folds thickness and calibration into NF, ID02.md §3.4).
        """
        return self.beam.monitor_gain_i1 / self.sample_thickness_cm


def _detector(sec: Section, energy_kev: float, seed: int) -> tuple[str, DetectorModel]:
    shape = tuple(sec.get("shape", kind=list))
    pixel = sec.get("pixel_size_m", kind=float)
    center = sec.get("center_px", kind=list)
    if len(shape) != 2 or len(center) != 2:
        raise InputError(f"{sec.where}: shape and center_px need two values each")
    geometry = Geometry(
        distance_m=sec.get("distance_m", kind=float),
        poni1_m=float(center[1]) * pixel, poni2_m=float(center[0]) * pixel,
        pixel1_m=pixel, pixel2_m=pixel, wavelength_m=energy_kev_to_wavelength_m(energy_kev),
        shape=tuple(int(s) for s in shape), binning=tuple(sec.get("binning", [1, 1], list)),
    )
    stop = sec.section("beamstop")
    beamstop = Beamstop(radius_px=stop.get("radius_px", 8.0, float),
                        arm_width_px=stop.get("arm_width_px", 4.0, float),
                        arm_direction=stop.get("arm_direction", "up", str),
                        transmission=stop.get("transmission", 1e-3, float),
                        margin_px=stop.get("margin_px", 2.0, float))
    stop.done()
    gaps = sec.section("gaps")
    model = DetectorModel(
        geometry=geometry,
        gap_rows=tuple(tuple(g) for g in gaps.get("rows", [], list)),
        gap_cols=tuple(tuple(g) for g in gaps.get("cols", [], list)),
        beamstop=beamstop, dead_pixel_fraction=sec.get("dead_pixel_fraction", 1e-4, float),
        flat_smooth_amplitude=sec.get("flat_smooth_amplitude", 0.03, float),
        flat_pixel_sigma=sec.get("flat_pixel_sigma", 0.01, float),
        dark_mean_counts=sec.get("dark_mean_counts", 2.0, float),
        dark_sigma_counts=sec.get("dark_sigma_counts", 0.5, float),
        dtype=sec.get("dtype", "int32", str), dummy=sec.get("dummy", None, (int, float)),
        polarization_factor=sec.get("polarization_factor", 0.99, float), seed=seed,
    )
    gaps.done()
    name = sec.get("name", "rayonix", str)
    sec.done()
    return name, model


def _populations(sec: Section) -> tuple[Species, ...]:
    pops = []
    for p in sec.items("populations"):
        pops.append(Species(radius_nm=p.get("radius_nm", kind=float),
                               volume_fraction=p.get("volume_fraction", kind=float),
                               rel_width=p.get("rel_width", 0.0, float),
                               shape=p.get("shape", "gaussian", str),
                               weighting=p.get("weighting", "number", str)))
        p.done()
    return tuple(pops)


def _peaks(sec: Section) -> tuple[BraggPeak, ...]:
    peaks = []
    for p in sec.items("bragg_peaks"):
        peaks.append(BraggPeak(q_nm=p.get("q_nm", kind=float), fwhm_nm=p.get("fwhm_nm", kind=float),
                               height_per_cm=p.get("height_per_cm", kind=float),
                               shape=p.get("shape", "lorentzian", str)))
        p.done()
    return tuple(peaks)


def _broad_peak(sec: Section) -> BroadPeak | None:
    if "broad_peak" not in sec.data:
        sec.used.add("broad_peak")
        return None
    b = sec.section("broad_peak")
    peak = BroadPeak(porod_scale=b.get("porod_scale", 0.0, float),
                     porod_exponent=b.get("porod_exponent", 3.0, float),
                     lorentz_scale=b.get("lorentz_scale", kind=float),
                     peak_pos_nm=b.get("peak_pos_nm", kind=float),
                     lorentz_length_nm=b.get("lorentz_length_nm", kind=float),
                     lorentz_exponent=b.get("lorentz_exponent", 2.0, float))
    b.done()
    return peak


def _measurement(sec: Section, scan: int, *, defaults: Acquisition, solvent: FlatBackground,
                 solvent_transmission: float, cell: Cell) -> Measurement:
    name = sec.get("name", kind=str)
    kind = sec.get("kind", kind=str)
    if kind not in KINDS:
        raise InputError(f"{sec.where}.kind: {kind!r} is not one of {KINDS}")
    pops = _populations(sec)
    kinetics = None
    if "kinetics" in sec.data:
        if kind != "sample" or pops:
            raise InputError(f"{sec.where}: kinetics is for kind 'sample' without populations "
                             "(the kinetics section defines them)")
        kinetics = kinetics_from_section(sec.section("kinetics"))
        pops = kinetics.populations_at(0.0)
    else:
        sec.used.add("kinetics")
    peaks, broad = _peaks(sec), _broad_peak(sec)
    if pops and kind != "sample":
        raise InputError(f"{sec.where}: populations are only for kind 'sample'")
    if (peaks or broad) and kind not in ("precursor", "sample"):
        raise InputError(f"{sec.where}: bragg_peaks/broad_peak need kind 'precursor' or 'sample'")
    phi = sum(p.volume_fraction for p in pops)
    vd = sec.get("solvent_volume_fraction", 1.0 - phi, float)
    extra = ([Spheres(pops)] if pops else []) + list(peaks) + ([broad] if broad else [])
    signal = SampleModel(tuple(extra), name=name) if extra else None
    if kind == "empty_cell":
        content, transmission = None, cell.transmission
    elif kind == "solvent":
        content, transmission, vd = SampleModel((solvent,), name=name), solvent_transmission, 1.0
        signal = None
    else:
        content = SampleModel((*extra, solvent.scaled(vd)), name=name)
        transmission = solvent_transmission
    transmission = sec.get("transmission", transmission, float)
    out = sec.section("outliers")
    outliers = Outliers(bubble_frames=tuple(out.get("bubble_frames", [], list)),
                        bubble_scatter_factor=out.get("bubble_scatter_factor", 0.6, float),
                        bubble_transmission_factor=out.get("bubble_transmission_factor", 0.9,
                                                           float),
                        zingers_per_frame=out.get("zingers_per_frame", 0.0, float),
                        zinger_counts=out.get("zinger_counts", 5000.0, float))
    out.done()
    m = Measurement(
        name=name, kind=kind, scan=sec.get("scan", scan, int), content=content, signal=signal,
        solvent_volume_fraction=vd, transmission=transmission,
        n_frames=sec.get("frames", defaults.n_frames, int), outliers=outliers,
        temperature_c=sec.get("temperature_c", None, float),
        growth_temperature_c=sec.get("growth_temperature_c", None, float),
        reaction_time_s=sec.get("reaction_time_s", None, float),
        series=sec.get("series", "", str), populations=pops, kinetics=kinetics)
    sec.done()
    return m


def load_scenario(path: str | os.PathLike) -> Scenario:
    """Read and validate a scenario YAML file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: scenario file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from None
    return scenario_from_dict(data, source=str(path))


def scenario_from_dict(data: object, source: str = "scenario") -> Scenario:
    """Build a :class:`Scenario` from the parsed YAML mapping."""
    top = Section(data, source)
    version = top.get("version", 1, int)
    if version != 1:
        raise InputError(f"{source}: scenario version {version} is not supported (only 1)")
    seed = top.get("seed", kind=int)
    b = top.section("beam")
    energy = b.get("energy_kev", 12.4, float)
    beam = Beam(flux_ph_s=b.get("flux_ph_s", 1e12, float),
                flux_jitter=b.get("flux_jitter", 0.01, float),
                monitor_gain_i0=b.get("monitor_gain_i0", 1e-6, float),
                monitor_gain_i1=b.get("monitor_gain_i1", 2e-6, float))
    b.done()
    det_name, detector = _detector(top.section("detector", required=True), energy, seed)
    a = top.section("acquisition")
    acq = Acquisition(n_frames=a.get("frames", 5, int),
                      exposure_time_s=a.get("exposure_time_s", 0.1, float),
                      file_format=a.get("file_format", "lima", str),
                      compression=a.get("compression", "bitshuffle-lz4", str),
                      dark_frames=a.get("dark_frames", 10, int),
                      start_epoch=a.get("start_epoch", 1.7e9, float))
    a.done()
    if acq.file_format not in FILE_FORMATS:
        raise InputError(f"{source}: acquisition.file_format {acq.file_format!r} is not one of "
                         f"{FILE_FORMATS}")
    c = top.section("cell")
    w = c.section("window")
    window = KaptonWindow(**{k: w.get(k, kind=float) for k in list(w.data)})
    w.done()
    cell = Cell(window_thickness_cm=c.get("window_thickness_cm", 0.005, float),
                transmission=c.get("transmission", 0.985, float), window=window)
    c.done()
    s = top.section("solvent")
    solvent_name = s.get("name", "ODE", str)
    solvent = FlatBackground(s.get("level_per_cm", kind=float))
    solvent_transmission = s.get("transmission", 0.8, float) * cell.transmission
    s.done()
    measurements = tuple(
        _measurement(m, i + 1, defaults=acq, solvent=solvent,
                     solvent_transmission=solvent_transmission, cell=cell)
        for i, m in enumerate(top.items("measurements")))
    names = [m.name for m in measurements]
    if len(set(names)) != len(names) or not names:
        raise InputError(f"{source}: measurement names must be unique and at least one given")
    scenario = Scenario(
        seed=seed, collection=top.get("collection", "beamtime", str), detector_name=det_name,
        detector=detector, beam=beam, acquisition=acq, cell=cell, solvent_name=solvent_name,
        solvent=solvent, solvent_transmission=solvent_transmission,
        sample_thickness_cm=top.get("sample_thickness_cm", 0.15, float),
        measurements=measurements, source=source)
    top.done()
    return scenario


def truth_grid(scenario: Scenario, n: int = 800) -> np.ndarray:
    """A log-spaced q grid (1/nm) covering what the detector sees."""
    q = scenario.detector.q_nm
    return np.geomspace(max(q.min(), 1e-3), q.max(), n)
