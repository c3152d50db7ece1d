"""NXcanSAS HDF5 files of 1-D curves: writing a :class:`~saxs.curve.Curve`, reading any 1-D file.

Layout written (NXcanSAS 1.1 application definition, NeXus NIAC)::

    /                          @NX_class=NXroot @default=sasentry01 @file_name @file_time @creator
    sasentry01                 NXentry  @canSAS_class=SASentry @version=1.1 @default=sasdata01
        definition = "NXcanSAS", title, run
        sasdata01              NXdata   @canSAS_class=SASdata @signal=I @I_axes=Q @Q_indices=0
            Q    @units=1/nm (@resolutions=Qdev @resolutions_description=Gaussian if known)
            I    @units=1/cm|arbitrary @uncertainties=Idev
            Idev @units as I
            Qdev @units=1/nm (optional): sd of the Gaussian q resolution
        sassample              NXsample @canSAS_class=SASsample: name, temperature, thickness, ...
        sasprocess01           NXprocess @canSAS_class=SASprocess: name="saxs", date, description
            saxs_metadata      NXnote   @canSAS_class=SASnote: type=application/json, data
            saxs_provenance    NXnote   @canSAS_class=SASnote: type=application/json, data
        saxs_extra             NXcollection (optional): caller's extra items

The two JSON notes give back the curve's metadata and provenance exactly; files written by other
programs are read from the standard fields alone.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from saxs import __version__, units
from saxs.curve import Curve, Step, frozen_mapping, provenance_from_json, provenance_to_json
from saxs.errors import InputError
from saxs.io.hdf5util import open_readonly

logger = logging.getLogger(__name__)

#: Version of the NXcanSAS application definition written.
NXCANSAS_VERSION = "1.1"
ENTRY = "sasentry01"
DATA = "sasdata01"
PROCESS = "sasprocess01"
EXTRA = "saxs_extra"
_METADATA_NOTE = "saxs_metadata"
_PROVENANCE_NOTE = "saxs_provenance"
#: NXcanSAS name of "arbitrary units" for I (NXcanSAS 1.1, SASdata/I@units).
ARBITRARY = "arbitrary"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="seconds")


def _set_attrs(obj: h5py.HLObject, **attrs: Any) -> None:
    for key, value in attrs.items():
        obj.attrs[key] = value


def _json(value: Any, what: str, file_name: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{file_name}: {what} cannot be stored as JSON ({exc}); use numbers, "
                         "strings, lists and mappings") from None


# ---------------------------------------------------------------------------------------------
# writing


def write_nxcansas(target: Path, curve: Curve, extra: Mapping[str, Any] | None,
                   file_name: str, q_unit: str = "1/nm") -> None:
    """Write ``curve`` (and ``extra``) as an NXcanSAS file at ``target``.

    Parameters
    ----------
    target : Path
        Where to create the file (usually the temporary name from
        :func:`saxs.io.atomic.atomic_path`); it must not exist.
    curve : Curve
        The curve; I and its uncertainty in "1/cm" or "arbitrary".
    extra : mapping or None
        Further items stored in the ``saxs_extra`` NXcollection of the entry (see
        :func:`read_extra`).
    file_name : str
        The final file name, recorded in the root's ``@file_name``.
    q_unit : {"1/nm", "1/A"}
        The unit of Q and Qdev (``@units`` 1/nm or 1/angstrom).
    """
    metadata_json = _json(dict(curve.metadata), "the curve metadata", file_name)
    extra_items = _extra_items(extra, file_name) if extra else {}
    with h5py.File(target, "w") as f:
        _set_attrs(f, NX_class="NXroot", default=ENTRY, file_name=file_name,
                   file_time=_now(), creator=f"saxs {__version__}",
                   HDF5_Version=h5py.version.hdf5_version, h5py_version=h5py.version.version)
        entry = f.create_group(ENTRY)
        _set_attrs(entry, NX_class="NXentry", canSAS_class="SASentry",
                   version=NXCANSAS_VERSION, default=DATA)
        meta = curve.metadata
        entry["definition"] = "NXcanSAS"
        entry["title"] = str(meta.get("title") or meta.get("sample") or Path(file_name).stem)
        entry["run"] = str(meta.get("run", ""))
        _write_sasdata(entry, curve, q_unit)
        _write_sample(entry, meta)
        _write_process(entry, metadata_json, provenance_to_json(curve.provenance))
        if extra_items:
            _write_extra(entry, extra_items)


def _write_sasdata(entry: h5py.Group, curve: Curve, q_unit: str) -> None:
    i_unit = "1/cm" if curve.intensity_unit == "1/cm" else ARBITRARY
    group = entry.create_group(DATA)
    _set_attrs(group, NX_class="NXdata", canSAS_class="SASdata", signal="I", I_axes="Q",
               Q_indices=np.int32(0))
    q_units = "1/angstrom" if q_unit == "1/A" else "1/nm"
    q = group.create_dataset("Q", data=units.q_from_per_nm(curve.q, q_unit))
    _set_attrs(q, units=q_units, long_name=f"q ({q_unit})")
    intensity = group.create_dataset("I", data=curve.intensity)
    _set_attrs(intensity, units=i_unit, uncertainties="Idev", long_name=f"I ({i_unit})")
    sigma = group.create_dataset("Idev", data=curve.sigma)
    _set_attrs(sigma, units=i_unit, long_name=f"sigma of I ({i_unit})")
    if curve.q_resolution is not None:
        _set_attrs(q, resolutions="Qdev", resolutions_description="Gaussian")
        dq = group.create_dataset("Qdev", data=units.q_from_per_nm(curve.q_resolution, q_unit))
        _set_attrs(dq, units=q_units,
                   long_name=f"standard deviation of the Gaussian q resolution ({q_unit})")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _write_sample(entry: h5py.Group, meta: Mapping[str, Any]) -> None:
    group = entry.create_group("sassample")
    _set_attrs(group, NX_class="NXsample", canSAS_class="SASsample")
    group["name"] = str(meta.get("sample", ""))
    # NXsample fields with their NeXus units.
    for key, field, unit in (("temperature_c", "temperature", "degC"),
                             ("thickness_cm", "thickness", "cm"),
                             ("transmission", "transmission", "")):
        value = _number(meta.get(key))
        if value is not None:
            group[field] = value
            if unit:
                group[field].attrs["units"] = unit


def _write_note(parent: h5py.Group, name: str, text: str, description: str) -> None:
    note = parent.create_group(name)
    _set_attrs(note, NX_class="NXnote", canSAS_class="SASnote")
    note["type"] = "application/json"
    note["description"] = description
    note["data"] = text


def _write_process(entry: h5py.Group, metadata_json: str, provenance_json: str) -> None:
    group = entry.create_group(PROCESS)
    _set_attrs(group, NX_class="NXprocess", canSAS_class="SASprocess")
    group["name"] = "saxs"
    group["date"] = _now()
    group["description"] = (f"saxs {__version__}: curve metadata and processing steps as "
                            "JSON notes")
    _write_note(group, _METADATA_NOTE, metadata_json, "Curve.metadata as a JSON object")
    _write_note(group, _PROVENANCE_NOTE, provenance_json,
                "Curve.provenance as a JSON list of steps {action, parameters}, oldest first")


def _extra_items(extra: Mapping[str, Any], file_name: str) -> dict[str, Any]:
    """Validate ``extra`` and turn each value into an array, a string or JSON text."""
    items: dict[str, Any] = {}
    for key, value in extra.items():
        if not isinstance(key, str) or not key or "/" in key or key == ".":
            raise InputError(f"{file_name}: extra key {key!r} is not a valid HDF5 name; use a "
                             "non-empty string without '/'")
        if isinstance(value, str) or (isinstance(value, np.ndarray)
                                      and value.dtype.kind in "biuf"):
            items[key] = value
        elif _number(value) is not None:
            items[key] = np.asarray(value)
        else:
            plain = dict(frozen_mapping({"v": value}))["v"]
            items[key] = (_json(plain, f"extra[{key!r}]", file_name), "json")
    return items


def _write_extra(entry: h5py.Group, items: Mapping[str, Any]) -> None:
    group = entry.create_group(EXTRA)
    _set_attrs(group, NX_class="NXcollection")
    for key, value in items.items():
        if isinstance(value, tuple):
            group[key] = value[0]
            group[key].attrs["encoding"] = value[1]
        else:
            group[key] = value


# ---------------------------------------------------------------------------------------------
# reading


def attr_text(obj: h5py.HLObject, name: str, default: str = "") -> str:
    """An attribute as text; a list attribute becomes comma-separated text."""
    value = obj.attrs.get(name)
    if value is None:
        return default
    if isinstance(value, np.ndarray):
        return ",".join(_text(v) for v in value.ravel())
    return _text(value)


def _text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value.ravel()[0] if value.size else ""
    if isinstance(value, bytes | np.bytes_):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _dataset_text(group: h5py.Group, name: str) -> str:
    obj = group.get(name)
    if not isinstance(obj, h5py.Dataset):
        return ""
    return _text(obj[()]).strip()


def _children(group: h5py.Group, cansas_class: str, nx_class: str) -> list[h5py.Group]:
    """Sub-groups whose @canSAS_class or @NX_class names the wanted class, sorted by name."""
    found = []
    for name in sorted(group):
        obj = group.get(name)
        if isinstance(obj, h5py.Group) and (attr_text(obj, "canSAS_class") == cansas_class
                                            or attr_text(obj, "NX_class") == nx_class):
            found.append(obj)
    return found


def _pick(group: h5py.Group, candidates: list[h5py.Group], what: str, path: Path) -> h5py.Group:
    default = attr_text(group, "default")
    for obj in candidates:
        if default and obj.name.rsplit("/", 1)[-1] == default:
            return obj
    if len(candidates) > 1:
        logger.info("%s: %d %s groups; reading %s", path, len(candidates), what,
                    candidates[0].name)
    return candidates[0]


def _find_entry(f: h5py.File, path: Path) -> h5py.Group:
    entries = [g for g in _children(f, "SASentry", "NXentry")
               if attr_text(g, "canSAS_class") == "SASentry"
               or _dataset_text(g, "definition") == "NXcanSAS"]
    if not entries:
        raise InputError(f"{path}: no NXcanSAS SASentry group (an NXentry with "
                         "@canSAS_class='SASentry' or definition='NXcanSAS'); is this a detector "
                         "frame file? Read those with saxs.read_frames")
    return _pick(f, entries, "SASentry", path)


def _find_sasdata(entry: h5py.Group, path: Path) -> h5py.Group:
    groups = [g for g in _children(entry, "SASdata", "NXdata")
              if attr_text(g, "canSAS_class") == "SASdata" or "I" in g]
    if not groups:
        raise InputError(f"{path}: entry {entry.name} has no NXcanSAS SASdata group "
                         "(@canSAS_class='SASdata' holding I and Q); the file holds no 1-D curve")
    return _pick(entry, groups, "SASdata", path)


def _vector(group: h5py.Group, name: str, path: Path) -> h5py.Dataset:
    obj = group.get(name)
    if not isinstance(obj, h5py.Dataset):
        raise InputError(f"{path}: SASdata group {group.name} has no dataset {name!r} (named by "
                         "its @signal/@I_axes attributes); the file is not valid NXcanSAS")
    if obj.ndim != 1:
        raise InputError(f"{path}: {obj.name} has shape {obj.shape}; only 1-D curves are read "
                         "(2-D and multi-frame SASdata are not supported)")
    if obj.dtype.kind not in "iuf":
        raise InputError(f"{path}: {obj.name} is not numeric (dtype {obj.dtype})")
    return obj


def _axis_names(group: h5py.Group) -> tuple[str, str]:
    """Names of the signal and of its q axis (NXcanSAS: @signal, @I_axes, @Q_indices)."""
    signal = attr_text(group, "signal", "I") or "I"
    axes = [a.strip() for a in attr_text(group, "I_axes", "Q").split(",") if a.strip()]
    raw_index = group.attrs.get("Q_indices", 0)
    try:
        index = int(np.ravel(raw_index)[0])
    except (TypeError, ValueError, IndexError):
        index = 0
    q_name = axes[index] if 0 <= index < len(axes) else "Q"
    return signal, q_name


def _read_arrays(group: h5py.Group, path: Path) -> dict[str, Any]:
    signal, q_name = _axis_names(group)
    q_ds = _vector(group, q_name, path)
    i_ds = _vector(group, signal, path)
    if q_ds.shape != i_ds.shape:
        raise InputError(f"{path}: {q_ds.name} has {q_ds.shape[0]} points but {i_ds.name} has "
                         f"{i_ds.shape[0]}; the file is inconsistent")
    dev_name = attr_text(i_ds, "uncertainties") or attr_text(i_ds, "uncertainty")
    if not dev_name and "Idev" in group:
        dev_name = "Idev"
    sigma = None
    if dev_name:
        dev_ds = _vector(group, dev_name.split(",")[0].strip(), path)
        if dev_ds.shape != i_ds.shape:
            raise InputError(f"{path}: {dev_ds.name} has {dev_ds.shape[0]} points but "
                             f"{i_ds.name} has {i_ds.shape[0]}")
        sigma = np.asarray(dev_ds[()], dtype=np.float64)
    arrays = {
        "q_resolution": _resolution(group, q_ds, path),
        "q": np.asarray(q_ds[()], dtype=np.float64),
        "intensity": np.asarray(i_ds[()], dtype=np.float64),
        "sigma": sigma,
        "q_unit": attr_text(q_ds, "units") or None,
        "intensity_unit": attr_text(i_ds, "units") or None,
    }
    mask_name = attr_text(group, "mask")
    if mask_name and isinstance(group.get(mask_name), h5py.Dataset):
        # NXcanSAS 1.1: mask values true (non-zero) mark points to ignore.
        arrays["mask"] = np.asarray(group[mask_name][()], dtype=bool).ravel()
    return arrays


def _resolution(group: h5py.Group, q_ds: h5py.Dataset, path: Path) -> np.ndarray | None:
    """The Gaussian q resolution (``Q@resolutions``, else ``Qdev``) in the unit of Q, or None.

    Only a 1-D resolution dataset of Q's length is read (NXcanSAS also allows slit lengths
    ``dQl``/``dQw``, which this package does not model; they are ignored with a log line).
    """
    names = [n.strip() for n in attr_text(q_ds, "resolutions").split(",") if n.strip()]
    name = next((n for n in names if n not in ("dQl", "dQw")), None)
    if name is None:
        if names:
            logger.warning("%s: Q@resolutions names %s (slit smearing), which is not modelled; "
                           "ignored", path, names)
            return None
        name = "Qdev" if "Qdev" in group else None
    if name is None:
        return None
    ds = _vector(group, name, path)
    if ds.shape != q_ds.shape:
        raise InputError(f"{path}: {ds.name} has {ds.shape[0]} values but {q_ds.name} has "
                         f"{q_ds.shape[0]}")
    values = np.asarray(ds[()], dtype=np.float64)
    q_unit, dq_unit = attr_text(q_ds, "units"), attr_text(ds, "units")
    if q_unit and dq_unit and q_unit != dq_unit:
        try:
            values = values * units.q_to_per_nm(1.0, dq_unit) / units.q_to_per_nm(1.0, q_unit)
        except InputError:
            raise InputError(f"{path}: {ds.name}@units {dq_unit!r} differs from Q's "
                             f"{q_unit!r} and is not a known q unit") from None
    return values


def _read_note(entry: h5py.Group, name: str) -> str | None:
    for process in _children(entry, "SASprocess", "NXprocess"):
        note = process.get(name)
        if isinstance(note, h5py.Group):
            return _dataset_text(note, "data")
    return None


def _json_note(entry: h5py.Group, name: str, path: Path) -> Any:
    text = _read_note(entry, name)
    if text is None:
        return None
    try:
        return json.loads(text or "null")
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: the {name} note of {entry.name} is not valid JSON ({exc}); "
                         "the file was altered or truncated") from None


def _foreign_metadata(entry: h5py.Group) -> dict[str, Any]:
    """Metadata from the standard NXcanSAS fields of a file written by another program."""
    meta: dict[str, Any] = {}
    for key in ("title", "run"):
        text = _dataset_text(entry, key)
        if text:
            meta[key] = text
    for sample in _children(entry, "SASsample", "NXsample")[:1]:
        name = _dataset_text(sample, "name") or _dataset_text(sample, "ID")
        if name:
            meta["sample"] = name
        if isinstance(sample.get("transmission"), h5py.Dataset):
            meta["transmission"] = float(np.ravel(sample["transmission"][()])[0])
    return meta


def read_nxcansas(path: Path) -> dict[str, Any]:
    """The first 1-D curve of an NXcanSAS file, as arrays with the units the file states.

    Parameters
    ----------
    path : Path
        The HDF5 file. The SASentry named by the root's ``@default`` (else the first) and its
        SASdata named by the entry's ``@default`` (else the first) are read.

    Returns
    -------
    dict
        ``q``, ``intensity``, ``sigma`` (None when the file has no uncertainty),
        ``q_resolution`` (Qdev in the unit of Q, None when absent), ``q_unit`` and
        ``intensity_unit`` (the ``@units`` text, or None), ``metadata``, ``provenance`` and
        optionally ``mask`` (True = point to drop).

    Raises
    ------
    InputError
        The file is missing, not HDF5, or has no NXcanSAS SASentry/SASdata with 1-D data.
    """
    with open_readonly(path) as f:
        entry = _find_entry(f, path)
        arrays = _read_arrays(_find_sasdata(entry, path), path)
        metadata = _json_note(entry, _METADATA_NOTE, path)
        steps = _read_note(entry, _PROVENANCE_NOTE)
        if not isinstance(metadata, dict):
            metadata = _foreign_metadata(entry)
        try:
            provenance: tuple[Step, ...] = provenance_from_json(steps) if steps else ()
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"{path}: the {_PROVENANCE_NOTE} note is not a list of steps "
                             f"({exc!r}); the file was altered") from None
    return {**arrays, "metadata": metadata, "provenance": provenance}


def read_extra(path: str | Path) -> dict[str, Any]:
    """The ``extra`` items stored by ``write_curve(..., extra=...)`` in an NXcanSAS file.

    Parameters
    ----------
    path : str or Path
        An NXcanSAS file written by :func:`saxs.write_curve`.

    Returns
    -------
    dict
        Name -> value: numeric arrays as numpy arrays (scalars as Python numbers), strings as
        str, everything else decoded from its JSON text. Empty if the file has none.
    """
    path = Path(path)
    with open_readonly(path) as f:
        group = _find_entry(f, path).get(EXTRA)
        if not isinstance(group, h5py.Group):
            return {}
        items: dict[str, Any] = {}
        for key, obj in group.items():
            if not isinstance(obj, h5py.Dataset):
                continue
            if obj.dtype.kind in "biuf":
                value = obj[()]
                items[key] = value.item() if np.ndim(value) == 0 else value
            elif attr_text(obj, "encoding") == "json":
                items[key] = json.loads(_text(obj[()]))
            else:
                items[key] = _text(obj[()])
    return items
