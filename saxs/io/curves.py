"""Reading and writing 1-D curves I(q): column text, Anton Paar PDH, NXcanSAS, canSAS XML.

Formats (chosen by suffix; the content decides where the suffix allows several):

``.dat`` ``.txt`` ``.csv`` ``.tsv``
    Columns q, I, sigma separated by blanks, commas or semicolons (the pyFAI ``save1D`` layout),
    and optionally a fourth column dq, the standard deviation of the Gaussian q resolution in
    the unit of q (the SasView ASCII convention); ``#`` lines are header. The q unit comes
    from a ``# q_unit = ...`` line or the column line
    (``q_nm^-1``, ``q_A^-1``, ``q[1/nm]``, ``q (1/A)``...), else from ``q_unit=``, else 1/nm
    with a logged warning. ``# key = value`` lines become metadata. A text file whose first
    lines have the PDH layout is read as PDH.
``.pdh``
    Anton Paar SAXSess / Glatter PDH: title, keywords, a line whose first integer is the number
    of points N, two lines of 5 numbers (4th line: 5th value = wavelength in nm; 5th line:
    1st value = temperature in degC), N rows q [1/nm], I, sigma, then a footer (ignored except
    for the q unit of its ``<column key="X">`` element).
``.h5`` ``.hdf5`` ``.hdf`` ``.nxs``
    NXcanSAS (see :mod:`saxs.io.nxcansas`). Any file starting with the HDF5 signature is read
    this way whatever its suffix.
``.xml``
    canSAS 1-D XML (versions 1.0 and 1.1, read only; :func:`read_cansas_xml`): ``Q``,
    ``I``, ``Idev`` and ``Qdev`` of each ``<Idata>`` with the units of their ``unit``
    attributes. A file with several ``<SASdata>`` blocks gives the first one; ``"file.xml::1"``
    picks block 1 (counted from 0 in document order over all entries).

Choices made for every format:

* rows with sigma <= 0 or a non-finite q, I or sigma are refused with an InputError giving
  their number and lines; ``drop_invalid=True`` drops them instead (logged, and recorded as a
  provenance step);
* q that is not increasing is sorted (logged, recorded as a ``sort_q`` step), since
  :class:`~saxs.curve.Curve` needs increasing q; a q value present twice is refused;
* a file without an uncertainty column is refused unless ``sigma_rel=`` or ``sigma=`` says how
  to set one (recorded as an ``assume_sigma`` step);
* the q resolution (``Curve.q_resolution``) is read where the format has it (text: 4th
  column; NXcanSAS: ``Qdev``; canSAS XML: ``<Qdev>``) and converted with q; a resolution that
  is zero everywhere is treated as absent (files write 0 for "unknown");
* a q value given twice (e.g. two detectors of a SANS instrument merged into one file) is
  refused unless ``merge_duplicates=True``, which merges such points (inverse-variance
  weighted mean of I; sigma = (sum 1/sigma_k^2)^-1/2; the q resolution becomes the weighted
  root-mean-square of the merged points', i.e. the variance of the merged resolution mixture).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from saxs import units
from saxs.curve import Curve, Step, frozen_mapping, provenance_from_json, provenance_to_json
from saxs.errors import InputError
from saxs.io.atomic import atomic_path
from saxs.io.nxcansas import read_nxcansas, write_nxcansas

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".dat", ".txt", ".csv", ".tsv")
XML_SUFFIXES = (".xml",)
PDH_SUFFIXES = (".pdh",)
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nxs")
#: Names accepted by the ``fmt`` argument.
FORMATS = ("text", "pdh", "nxcansas", "cansas_xml")
# HDF5 format specification 3.0, section II.A: the superblock signature.
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_RESERVED_KEYS = ("q_unit", "intensity_unit", "provenance")

#: The q units :func:`write_curve` writes in.
WRITTEN_Q_UNITS = ("1/nm", "1/A")
_KEY_VALUE = re.compile(r"^#\s*([A-Za-z_][\w.\-]*)\s*=\s*(.*?)\s*$")
_SPLIT = re.compile(r"[\s,;]+")
# q units in a column line: "q_nm^-1", "q_A^-1", "q[1/nm]", "q (1/A)", "nm-1", "A^{-1}", "1/Å".
_Q_UNIT_TEXT = re.compile(
    r"(?<![a-z0-9])(?:1\s*/\s*(nm|a|å|angstroms?)|(nm|a|å|angstroms?)\s*\^?\s*-\s*1)(?![a-z])",
    re.IGNORECASE)
_I_UNIT_TEXT = re.compile(r"(?<![a-z0-9])(?:1\s*/\s*(cm|mm)|(cm|mm)\s*\^?\s*-\s*1)(?![a-z])",
                          re.IGNORECASE)
_ARBITRARY = {"arb", "arb.", "arbitrary", "arbitraryunits", "arb.units", "arb.u.", "a.u.",
              "a.u", "au", "counts", "none", ""}


@dataclass
class RawCurve:
    """Columns as a file gives them, before unit conversion and checks."""

    q: np.ndarray
    intensity: np.ndarray
    sigma: np.ndarray | None
    q_unit: str | None = None           # as stated by the file
    intensity_unit: str | None = None   # as stated by the file
    q_unit_convention: str | None = None  # the format's unit when the file states none
    metadata: dict[str, Any] = field(default_factory=dict)
    provenance: tuple[Step, ...] = ()
    rows: np.ndarray | None = None      # line numbers (text) or indices, for messages
    row_name: str = "index"
    mask: np.ndarray | None = None      # True = point the file marks as invalid
    q_resolution: np.ndarray | None = None  # sd of the Gaussian q resolution, unit of q


# ---------------------------------------------------------------------------------------------
# format choice


def sniff_format(path: Path) -> str:
    """The format of ``path`` ("text", "pdh" or "nxcansas") from its suffix and first bytes."""
    suffix = path.suffix.lower()
    with path.open("rb") as fh:
        head = fh.read(8192)
    if head.startswith(_HDF5_SIGNATURE) or suffix in HDF5_SUFFIXES:
        return "nxcansas"
    if suffix in XML_SUFFIXES or looks_like_cansas_xml(head):
        return "cansas_xml"
    if suffix in PDH_SUFFIXES:
        return "pdh"
    if suffix in TEXT_SUFFIXES:
        return "pdh" if _looks_like_pdh(_decode(head).splitlines()) else "text"
    raise InputError(f"{path}: unknown curve file suffix {path.suffix!r}; use one of "
                     f"{', '.join(TEXT_SUFFIXES + PDH_SUFFIXES + HDF5_SUFFIXES + XML_SUFFIXES)}"
                     ", or pass "
                     f"fmt= one of {FORMATS}")


def _looks_like_pdh(lines: list[str]) -> bool:
    """True if lines 3-5 have the PDH layout: 8 integers, then two lines of 5 numbers."""
    if len(lines) < 6:
        return False
    counts = lines[2].split()
    if not counts or not all(re.fullmatch(r"[-+]?\d+", t) for t in counts):
        return False
    return all(len(_floats_or_none(line) or ()) >= 5 for line in lines[3:5])


def _floats_or_none(line: str) -> list[float] | None:
    tokens = [t for t in _SPLIT.split(line.strip()) if t]
    try:
        return [float(t) for t in tokens]
    except ValueError:
        return None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # older instrument software writes Latin-1 ("Å")


def _text_lines(path: Path) -> list[str]:
    return _decode(path.read_bytes()).splitlines()


# ---------------------------------------------------------------------------------------------
# column text


def _split_text(path: Path, lines: list[str]) -> tuple[list[str], list[list[float]], list[int]]:
    """Header lines, numeric rows and their 1-based line numbers."""
    header: list[str] = []
    rows: list[list[float]] = []
    numbers: list[int] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        if text.startswith("#"):
            if not rows:
                header.append(text)
            continue
        values = _floats_or_none(text)
        if values is None:
            first = _SPLIT.split(text)[0]
            if not rows and _floats_or_none(first) is None:
                header.append(text)  # a column-name line such as "q,I,sigma"
                continue
            raise InputError(f"{path}: line {number} is not numeric: {text[:60]!r}; remove it "
                             "or start it with '#'")
        if rows and len(values) != len(rows[0]):
            raise InputError(f"{path}: line {number} has {len(values)} columns but line "
                             f"{numbers[0]} has {len(rows[0])}; every data row needs the same "
                             "columns q, I, sigma")
        rows.append(values)
        numbers.append(number)
    if not rows:
        raise InputError(f"{path}: no numeric rows; a curve file needs columns q, I, sigma")
    return header, rows, numbers


def _header_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pyfai_geometry(header: list[str]) -> dict[str, Any] | None:
    """The JSON geometry block pyFAI's ``save1D`` writes at the top of a ``.dat`` header."""
    body = [h[1:] for h in header]
    starts = [i for i, h in enumerate(body) if h.strip() == "{"]
    ends = [i for i, h in enumerate(body) if h.strip() == "}"]
    if not starts or not ends or ends[0] < starts[0]:
        return None
    try:
        block = json.loads("\n".join(body[starts[0]:ends[0] + 1]))
    except ValueError:
        logger.debug("header block between '# {' and '# }' is not JSON; ignored")
        return None
    return block if isinstance(block, dict) else None


def _unit_in(pattern: re.Pattern[str], line: str | None) -> str | None:
    if not line:
        return None
    match = pattern.search(line.replace("{", "").replace("}", ""))
    return match.group(0) if match else None


def _parse_header(path: Path, header: list[str]) -> dict[str, Any]:
    """Units, metadata and provenance stated by a text header."""
    values: dict[str, str] = {}
    for line in header:
        match = _KEY_VALUE.match(line)
        if match:
            values[match.group(1)] = match.group(2)
    last = header[-1] if header else None
    column_line = None if last is None or _KEY_VALUE.match(last) else last
    try:
        provenance = provenance_from_json(values.pop("provenance", ""))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: the '# provenance = ...' header line is not a JSON list of "
                         f"steps ({exc!r}); correct or remove it") from None
    q_unit = values.pop("q_unit", None) or _unit_in(_Q_UNIT_TEXT, column_line)
    i_unit = values.pop("intensity_unit", None) or _unit_in(_I_UNIT_TEXT, column_line)
    metadata = {k: _header_value(v) for k, v in values.items() if not k.startswith("extra.")}
    geometry = _pyfai_geometry(header)
    if geometry is not None and "pyfai_geometry" not in metadata:
        metadata["pyfai_geometry"] = geometry
    return {"q_unit": q_unit, "intensity_unit": i_unit, "metadata": metadata,
            "provenance": provenance}


def read_text(path: Path) -> RawCurve:
    """Columns q, I[, sigma] and the header of a column text file."""
    header, rows, numbers = _split_text(path, _text_lines(path))
    data = np.array(rows, dtype=np.float64)
    n_cols = data.shape[1]
    if n_cols < 2:
        raise InputError(f"{path}: {n_cols} numeric column; a curve file needs columns q, I, "
                         "sigma")
    if n_cols > 4:
        logger.debug("%s: %d columns; using the first four as q, I, sigma, dq", path, n_cols)
    sigma = data[:, 2] if n_cols >= 3 else None
    dq = data[:, 3] if n_cols >= 4 else None
    return RawCurve(q=data[:, 0], intensity=data[:, 1], sigma=sigma, q_resolution=dq,
                    rows=np.asarray(numbers), row_name="line", **_parse_header(path, header))


def _check_text_key(key: str, file_name: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][\w.\-]*", key) or key in _RESERVED_KEYS \
            or key.startswith("extra."):
        raise InputError(f"{file_name}: metadata key {key!r} cannot be written to a text header "
                         f"(keys must be identifiers and not one of {_RESERVED_KEYS}); rename it "
                         "or write an NXcanSAS .h5 file")


def _json_line(key: str, value: Any, file_name: str) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{file_name}: {key} = {value!r} cannot be written as JSON ({exc}); "
                         "use numbers, strings, lists and mappings") from None
    return f"# {key} = {text}"


def text_lines(curve: Curve, extra: Mapping[str, Any] | None, file_name: str,
               delimiter: str = " ", q_unit: str = "1/nm") -> list[str]:
    """The lines of the column text form of ``curve`` (header, then q I sigma [dq] rows), q
    in ``q_unit``."""
    i_unit = curve.intensity_unit
    has_dq = curve.q_resolution is not None
    lines = ["# saxs 1-D curve: columns q, I, sigma (sigma = one standard deviation of I)"
             + (", dq (standard deviation of the Gaussian q resolution)" if has_dq else ""),
             f"# q_unit = {q_unit}", f"# intensity_unit = {i_unit}"]
    for key, value in curve.metadata.items():
        _check_text_key(key, file_name)
        lines.append(_json_line(key, value, file_name))
    lines.append(f"# provenance = {provenance_to_json(curve.provenance)}")
    for key, value in frozen_mapping(extra).items():
        _check_text_key(key, file_name)
        lines.append(_json_line(f"extra.{key}", value, file_name))
    names = [f"q[{q_unit}]", f"I[{i_unit}]", f"sigma[{i_unit}]"]
    columns = [units.q_from_per_nm(curve.q, q_unit).tolist(), curve.intensity.tolist(),
               curve.sigma.tolist()]
    if has_dq:
        names.append(f"dq[{q_unit}]")
        columns.append(units.q_from_per_nm(curve.q_resolution, q_unit).tolist())
    lines.append("# " + delimiter.join(names))
    # repr gives the shortest text that reads back to the same float64 (Python >= 3.1).
    lines.extend(delimiter.join(map(repr, row)) for row in zip(*columns, strict=True))
    return lines


# ---------------------------------------------------------------------------------------------
# Anton Paar PDH


def _pdh_numbers(path: Path, lines: list[str], index: int, minimum: int) -> list[float]:
    values = _floats_or_none(lines[index]) if index < len(lines) else None
    if values is None or len(values) < minimum:
        raise InputError(f"{path}: PDH line {index + 1} must hold at least {minimum} numbers, "
                         f"got {lines[index][:60] if index < len(lines) else 'end of file'!r}")
    return values


def _pdh_footer_q_unit(footer: list[str]) -> str | None:
    """The q unit in the XML footer SAXSquant writes (``<column key="X">`` ``n_m^-1``)."""
    match = re.search(r'<column key="X">\s*<value key="unit">([^<]*)</value>', "\n".join(footer))
    return match.group(1).replace("_", "").strip() if match else None


def read_pdh(path: Path) -> RawCurve:
    """Columns and header values of an Anton Paar SAXSess / Glatter PDH file."""
    lines = _text_lines(path)
    counts = lines[2].split() if len(lines) > 2 else []
    try:
        n = int(counts[0])
    except (IndexError, ValueError):
        raise InputError(f"{path}: PDH line 3 must start with the number of points, got "
                         f"{(lines[2] if len(lines) > 2 else 'end of file')[:60]!r}") from None
    if n < 1:
        raise InputError(f"{path}: PDH line 3 gives {n} points; the file holds no curve")
    line4 = _pdh_numbers(path, lines, 3, 5)
    line5 = _pdh_numbers(path, lines, 4, 1)
    body = lines[5:5 + n]
    if len(body) < n:
        raise InputError(f"{path}: PDH line 3 announces {n} points but only {len(body)} lines "
                         "follow the header; the file is truncated")
    rows = []
    for number, line in enumerate(body, start=6):
        values = _floats_or_none(line)
        if values is None or len(values) < 3:
            raise InputError(f"{path}: PDH line {number} must hold q, I, sigma, got "
                             f"{line[:60]!r} (line 3 announces {n} points)")
        rows.append(values[:3])
    data = np.array(rows, dtype=np.float64)
    metadata = {"title": lines[0].strip(), "keywords": lines[1].strip(),
                "temperature_c": line5[0], "wavelength_nm": line4[4]}
    return RawCurve(q=data[:, 0], intensity=data[:, 1], sigma=data[:, 2],
                    q_unit=_pdh_footer_q_unit(lines[5 + n:]), q_unit_convention="1/nm",
                    metadata=metadata, rows=np.arange(6, 6 + n), row_name="line")


# ---------------------------------------------------------------------------------------------
# canSAS 1-D XML (read only)


def looks_like_cansas_xml(head: bytes) -> bool:
    """True if the first bytes of a file are XML with a ``SASroot`` element."""
    text = head.lstrip()
    return text.startswith(b"<?xml") and b"<SASroot" in text


def _local(tag: str) -> str:
    """Element name without its namespace ("{urn:cansas1d:1.1}Q" -> "Q")."""
    return tag.rpartition("}")[2]


def _xml_children(element: Any, name: str) -> list[Any]:
    return [child for child in element if _local(child.tag) == name]


def _xml_text(element: Any, name: str) -> str | None:
    found = _xml_children(element, name)
    return (found[0].text or "").strip() if found else None


def _xml_blocks(path: Path) -> list[tuple[Any, Any]]:
    """(SASentry, SASdata) pairs of a canSAS XML file in document order."""
    from xml.etree import ElementTree  # noqa: PLC0415

    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as exc:
        raise InputError(f"{path}: not well-formed XML ({exc})") from None
    if _local(root.tag) != "SASroot":
        raise InputError(f"{path}: the root element is <{_local(root.tag)}>, not <SASroot>; "
                         "not a canSAS 1-D XML file")
    blocks = [(entry, data) for entry in _xml_children(root, "SASentry")
              for data in _xml_children(entry, "SASdata")]
    if not blocks:
        raise InputError(f"{path}: no <SASentry><SASdata> block; the file holds no curve")
    return blocks


def _xml_column(path: Path, rows: list[Any], name: str, required: bool
                ) -> tuple[np.ndarray | None, str | None]:
    """Values and unit of the ``name`` element of every ``<Idata>`` row."""
    values, unit_set = [], set()
    for k, row in enumerate(rows):
        found = _xml_children(row, name)
        if not found:
            if required:
                raise InputError(f"{path}: <Idata> row {k} has no <{name}>; every row needs "
                                 "Q, I and Idev")
            return None, None
        try:
            values.append(float((found[0].text or "").strip()))
        except ValueError:
            raise InputError(f"{path}: <{name}> of <Idata> row {k} is not a number: "
                             f"{found[0].text!r}") from None
        unit_set.add(found[0].get("unit", "").strip())
    if len(unit_set) > 1:
        raise InputError(f"{path}: <{name}> elements use several units {sorted(unit_set)}")
    unit = unit_set.pop() if unit_set else ""
    return np.asarray(values, dtype=np.float64), (unit or None)


def _xml_metadata(entry: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, tag in (("title", "Title"), ("run", "Run")):
        text = _xml_text(entry, tag)
        if text:
            meta[key] = text
    if entry.get("name"):
        meta["entry"] = entry.get("name")
    for sample in _xml_children(entry, "SASsample")[:1]:
        if _xml_text(sample, "ID"):
            meta["sample"] = _xml_text(sample, "ID")
        for key, tag in (("transmission", "transmission"), ("temperature_c", "temperature")):
            text = _xml_text(sample, tag)
            if text:
                try:
                    meta[key] = float(text)
                except ValueError:
                    logger.debug("canSAS XML <%s> %r is not a number; ignored", tag, text)
        found = _xml_children(sample, "thickness")
        if found and found[0].text:
            try:
                meta["thickness_cm"] = float(units.length_to_m(float(found[0].text),
                                                               found[0].get("unit", "mm"))) * 100
            except (ValueError, InputError):
                logger.debug("canSAS XML thickness %r not understood; ignored", found[0].text)
    return meta


def read_cansas_xml(path: Path, block: int | None = None) -> dict[str, Any]:
    """One ``<SASdata>`` block of a canSAS 1-D XML file (v1.0 / v1.1), as arrays and units.

    Parameters
    ----------
    path : Path
        The XML file (only read, with :mod:`xml.etree.ElementTree`).
    block : int, optional
        Index of the SASdata block over all SASentry elements in document order (default 0;
        logged when the file has several).

    Returns
    -------
    dict
        Keyword arguments of :class:`RawCurve`: ``q``, ``intensity``, ``sigma`` (``Idev``),
        ``q_resolution`` (``Qdev``, or None), the ``unit`` attributes of Q and I, and metadata
        (title, run, sample transmission/thickness/temperature; ``slit_length_per_nm`` when the
        block gives ``dQl``: slit smearing is not modelled by this package).
    """
    blocks = _xml_blocks(path)
    index = 0 if block is None else block
    if not 0 <= index < len(blocks):
        raise InputError(f"{path}: SASdata block {index} does not exist; the file has "
                         f"{len(blocks)} (use ::0 to ::{len(blocks) - 1})")
    if block is None and len(blocks) > 1:
        logger.info("%s: %d SASdata blocks; reading block 0 (pick another with "
                    "'%s::N')", path, len(blocks), path)
    entry, data = blocks[index]
    rows = _xml_children(data, "Idata")
    if not rows:
        raise InputError(f"{path}: SASdata block {index} has no <Idata> rows")
    q, q_unit = _xml_column(path, rows, "Q", True)
    intensity, i_unit = _xml_column(path, rows, "I", True)
    sigma, _ = _xml_column(path, rows, "Idev", False)
    dq, dq_unit = _xml_column(path, rows, "Qdev", False)
    if dq is not None and dq_unit and q_unit and dq_unit != q_unit:
        dq = dq * _q_factor(path, dq_unit, "<Qdev>") / _q_factor(path, q_unit, "<Q>")
    metadata = _xml_metadata(entry)
    slit, slit_unit = _xml_column(path, rows, "dQl", False)
    if slit is not None:
        factor = _q_factor(path, slit_unit or q_unit or "1/nm", "<dQl>")
        metadata["slit_length_per_nm"] = float(slit[0]) * factor
        logger.warning("%s: SASdata block %d is slit-smeared (dQl); slit smearing is not "
                       "modelled, fits of this block are approximate", path, index)
    return {"q": q, "intensity": intensity, "sigma": sigma, "q_resolution": dq,
            "q_unit": q_unit, "intensity_unit": i_unit, "metadata": metadata,
            "rows": np.arange(q.size), "row_name": "Idata row"}


# ---------------------------------------------------------------------------------------------
# units, uncertainties, checks


def _q_factor(path: Path, text: str, source: str) -> float:
    key = text.strip().replace("{", "").replace("}", "").replace("Å", "A").replace("å", "a")
    key = re.sub(r"(?i)angstroms?", "A", key)
    try:
        return float(units.q_to_per_nm(1.0, key))
    except InputError:
        raise InputError(f"{path}: {source} gives the q unit {text!r}, which is not known; "
                         "pass q_unit='1/nm' or '1/A'") from None


def _resolve_q(path: Path, raw: RawCurve, q_unit: str | None) -> float:
    """Factor from the file's q values to 1/nm."""
    if raw.q_unit is not None:
        stated = _q_factor(path, raw.q_unit, "the file")
        if q_unit is not None and _q_factor(path, q_unit, "q_unit=") != stated:
            raise InputError(f"{path}: the file states q in {raw.q_unit!r} but q_unit={q_unit!r} "
                             "was passed; drop q_unit= or correct the file's header")
        return stated
    if q_unit is not None:
        return _q_factor(path, q_unit, "q_unit=")
    if raw.q_unit_convention is not None:
        return _q_factor(path, raw.q_unit_convention, "the format")
    logger.warning("%s: the file does not state the q unit; assuming 1/nm (pass q_unit='1/A' "
                   "if it is in 1/A)", path)
    return 1.0


def _intensity_unit(path: Path, text: str, source: str) -> tuple[str, float]:
    key = text.strip().lower().replace(" ", "")
    if key in _ARBITRARY:
        return "arb", 1.0
    if units.is_known_intensity_unit(text):
        return "1/cm", float(units.intensity_to_per_cm(1.0, text))
    raise InputError(f"{path}: {source} gives the intensity unit {text!r}; use 1/cm, 1/m or "
                     "1/mm (absolute) or 'arb' (pass intensity_unit='arb' to read it as "
                     "arbitrary)")


def _resolve_intensity(path: Path, raw: RawCurve, intensity_unit: str | None
                       ) -> tuple[str, float]:
    """The curve's intensity unit and the factor from the file's values to it."""
    if intensity_unit is None:
        if raw.intensity_unit is None:
            return "arb", 1.0
        return _intensity_unit(path, raw.intensity_unit, "the file")
    chosen = _intensity_unit(path, intensity_unit, "intensity_unit=")
    if raw.intensity_unit is not None:
        try:
            stated: tuple[str, float] | None = _intensity_unit(path, raw.intensity_unit, "")
        except InputError:
            stated = None
        if stated != chosen:
            logger.warning("%s: the file states intensities in %r; using intensity_unit=%r as "
                           "asked", path, raw.intensity_unit, intensity_unit)
    return chosen


def _assumed_sigma(path: Path, q: np.ndarray, intensity: np.ndarray,
                   sigma: Callable[..., Any] | None, sigma_rel: float | None
                   ) -> tuple[np.ndarray, Step]:
    if sigma is not None and sigma_rel is not None:
        raise InputError(f"{path}: pass either sigma= or sigma_rel=, not both")
    if sigma_rel is not None:
        rel = float(sigma_rel)
        if not (math.isfinite(rel) and rel > 0):
            raise InputError(f"{path}: sigma_rel must be a positive number, got {sigma_rel!r}")
        return rel * np.abs(intensity), Step("assume_sigma", {"sigma_rel": rel})
    if not callable(sigma):
        raise InputError(f"{path}: sigma= must be a callable sigma(q_nm, intensity) -> array, "
                         f"got {type(sigma).__name__}")
    values = np.asarray(sigma(q, intensity), dtype=np.float64)
    if values.shape != intensity.shape:
        raise InputError(f"{path}: sigma(q, intensity) returned shape {values.shape}, expected "
                         f"{intensity.shape}")
    name = getattr(sigma, "__qualname__", type(sigma).__name__)
    return values, Step("assume_sigma", {"function": name})


def _rows_text(raw: RawCurve, bad: np.ndarray) -> str:
    rows = raw.rows if raw.rows is not None else np.arange(bad.size)
    listed = ", ".join(str(int(r)) for r in rows[bad][:8])
    more = ", ..." if int(bad.sum()) > 8 else ""
    return f"{raw.row_name}s {listed}{more}"


def _drop_invalid(path: Path, raw: RawCurve, columns: list[np.ndarray], drop: bool
                  ) -> tuple[list[np.ndarray], list[Step]]:
    """Remove masked points, and refuse (or drop) rows with sigma <= 0 or non-finite values."""
    steps: list[Step] = []
    if raw.mask is not None and raw.mask.shape != columns[0].shape:
        logger.warning("%s: the mask has %d values for %d points; mask ignored", path,
                       raw.mask.size, columns[0].size)
    elif raw.mask is not None and raw.mask.any():
        keep = ~raw.mask
        n_masked = int(raw.mask.sum())
        logger.info("%s: dropped %d points the file's mask marks invalid", path, n_masked)
        steps.append(Step("drop_masked", {"n_dropped": n_masked}))
        columns = [c[keep] for c in columns]
        raw.rows = (raw.rows if raw.rows is not None else np.arange(keep.size))[keep]
    q, intensity, sigma = columns[:3]
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(q) & np.isfinite(intensity) & np.isfinite(sigma) & (sigma > 0))
        if len(columns) > 3:
            bad |= ~(np.isfinite(columns[3]) & (columns[3] >= 0))
    n_bad = int(bad.sum())
    if not n_bad:
        return columns, steps
    what = (f"{n_bad} of {bad.size} points have sigma <= 0, dq < 0 or a non-finite q, I, "
            f"sigma or dq ({_rows_text(raw, bad)})")
    if not drop:
        raise InputError(f"{path}: {what}; correct the file or pass drop_invalid=True to drop "
                         "those points")
    if n_bad == bad.size:
        raise InputError(f"{path}: {what}; no valid point is left")
    logger.warning("%s: dropped %s", path, what)
    steps.append(Step("drop_invalid", {"n_dropped": n_bad,
                                       "reason": "sigma <= 0, dq < 0 or non-finite values"}))
    raw.rows = raw.rows[~bad] if raw.rows is not None else None
    return [c[~bad] for c in columns], steps


def _sort_q(path: Path, raw: RawCurve, columns: list[np.ndarray], merge: bool = False
            ) -> tuple[list[np.ndarray], list[Step]]:
    """Sort by increasing q (logged); refuse (or merge) a q value given twice."""
    q = columns[0]
    if q.size < 2 or np.all(np.diff(q) > 0):
        return columns, []
    order = np.argsort(q, kind="stable")
    ordered = q[order]
    same = np.flatnonzero(np.diff(ordered) == 0)
    if same.size and not merge:
        twice = np.zeros(q.size, dtype=bool)
        twice[order[same[0]:same[0] + 2]] = True
        raise InputError(f"{path}: q = {float(ordered[same[0]])!r} 1/nm occurs more than once "
                         f"({_rows_text(raw, twice)}); merge or remove duplicated points, or "
                         "pass merge_duplicates=True (--merge-duplicates) to merge them")
    steps = []
    if not np.all(np.diff(q) >= 0):
        logger.warning("%s: q is not increasing; sorted the %d points by q", path, q.size)
        steps.append(Step("sort_q", {}))
    columns = [c[order] for c in columns]
    if same.size:
        columns, step = _merge_duplicates(path, columns)
        steps.append(step)
    return columns, steps


def _merge_duplicates(path: Path, columns: list[np.ndarray]) -> tuple[list[np.ndarray], Step]:
    """Merge points of equal q (sorted columns q, I, sigma[, dq]); see the module docstring."""
    q = columns[0]
    starts = np.flatnonzero(np.r_[True, np.diff(q) > 0])
    weight = 1.0 / columns[2] ** 2
    total = np.add.reduceat(weight, starts)
    merged = [q[starts], np.add.reduceat(weight * columns[1], starts) / total,
              1.0 / np.sqrt(total)]
    if len(columns) > 3:
        merged.append(np.sqrt(np.add.reduceat(weight * columns[3] ** 2, starts) / total))
    n_merged = q.size - starts.size
    logger.warning("%s: merged %d point(s) with a q given twice", path, n_merged)
    return merged, Step("merge_duplicates", {"n_merged": int(n_merged),
                                             "rule": "inverse-variance weighted mean"})


def to_curve(path: Path, raw: RawCurve, *, q_unit: str | None = None,
             intensity_unit: str | None = None, sigma: Callable[..., Any] | None = None,
             sigma_rel: float | None = None, drop_invalid: bool = False,
             merge_duplicates: bool = False) -> Curve:
    """Convert units, set or check uncertainties, order by q and build the :class:`Curve`."""
    q_factor = _resolve_q(path, raw, q_unit)
    q = raw.q * q_factor
    i_unit, i_factor = _resolve_intensity(path, raw, intensity_unit)
    intensity = raw.intensity * i_factor
    steps = list(raw.provenance)
    if raw.sigma is not None:
        if sigma is not None or sigma_rel is not None:
            raise InputError(f"{path}: the file has an uncertainty column; sigma= and "
                             "sigma_rel= are only for files without one")
        errors = raw.sigma * i_factor
    elif sigma is None and sigma_rel is None:
        raise InputError(f"{path}: the file has q and I but no uncertainty (sigma) column; pass "
                         "sigma_rel=0.01 (sigma = 1 % of |I|) or sigma=f(q_nm, intensity) to "
                         "state the uncertainties")
    else:
        errors, step = _assumed_sigma(path, q, intensity, sigma, sigma_rel)
        steps.append(step)
    columns = [q, intensity, errors]
    dq = raw.q_resolution
    if dq is not None and np.shape(dq) != np.shape(q):
        raise InputError(f"{path}: the q resolution has {np.size(dq)} values for {q.size} "
                         "points")
    if dq is not None and np.all(np.asarray(dq) == 0):
        logger.info("%s: the q resolution is 0 everywhere; treated as absent", path)
        dq = None
    if dq is not None:
        columns.append(np.asarray(dq, dtype=np.float64) * q_factor)
    columns, dropped = _drop_invalid(path, raw, columns, drop_invalid)
    columns, ordered = _sort_q(path, raw, columns, merge_duplicates)
    try:
        return Curve(*columns[:3], q_unit="1/nm", intensity_unit=i_unit, metadata=raw.metadata,
                     provenance=(*steps, *dropped, *ordered),
                     q_resolution=columns[3] if len(columns) > 3 else None)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# public API


def _read_raw(path: Path, fmt: str, block: int | None = None) -> RawCurve:
    if block is not None and fmt != "cansas_xml":
        raise InputError(f"{path}: '::{block}' picks a SASdata block of a canSAS XML file; "
                         f"this is a {fmt} file")
    if fmt == "text":
        return read_text(path)
    if fmt == "pdh":
        return read_pdh(path)
    if fmt == "nxcansas":
        return RawCurve(**read_nxcansas(path))
    if fmt == "cansas_xml":
        return RawCurve(**read_cansas_xml(path, block))
    raise InputError(f"{path}: fmt={fmt!r} is not one of {FORMATS}")


def _split_block(path: str | Path) -> tuple[Path, int | None]:
    """``"file.xml::2"`` -> (Path("file.xml"), 2); other paths -> (Path, None)."""
    text = str(path)
    base, sep, tail = text.rpartition("::")
    if not sep or Path(text).exists():
        return Path(text), None
    if not re.fullmatch(r"\d+", tail.strip()):
        raise InputError(f"{text}: '::{tail}' must be the index (0, 1, ...) of a SASdata block "
                         "of a canSAS XML file")
    return Path(base), int(tail)


def read_curve(path: str | Path, q_unit: str | None = None, intensity_unit: str | None = None,
               *, sigma: Callable[..., Any] | None = None, sigma_rel: float | None = None,
               drop_invalid: bool = False, fmt: str | None = None,
               merge_duplicates: bool = False) -> Curve:
    """Read a 1-D curve from column text, Anton Paar PDH, NXcanSAS HDF5 or canSAS XML.

    Parameters
    ----------
    path : str or Path
        The file; its format comes from the suffix and content (see the module docstring).
        ``"file.xml::N"`` reads SASdata block N of a canSAS XML file.
    q_unit : str, optional
        Unit of q in the file ("1/nm", "1/A", ...) when the file does not state it. If the file
        states a different unit, InputError is raised. Text files stating none default to
        "1/nm" with a logged warning; PDH files are 1/nm by convention.
    intensity_unit : str, optional
        Unit of I and sigma in the file: "arb", or "1/cm", "1/m", "1/mm" (converted to 1/cm).
        Overrides the unit stated by the file (logged when they differ). Default: the file's
        unit, else "arb".
    sigma : callable, optional
        For files without an uncertainty column: ``sigma(q_nm, intensity) -> array``.
    sigma_rel : float, optional
        For files without an uncertainty column: sigma = ``sigma_rel * |I|``.
    drop_invalid : bool
        Drop points with sigma <= 0 or non-finite values (logged) instead of refusing the file.
    fmt : {"text", "pdh", "nxcansas", "cansas_xml"}, optional
        Force the format instead of guessing it.
    merge_duplicates : bool
        Merge points whose q occurs twice (see the module docstring) instead of refusing them.

    Returns
    -------
    Curve
        q in 1/nm, increasing; metadata and provenance as stored (files written by
        :func:`write_curve` give back the curve that was written).

    Raises
    ------
    InputError
        Missing file, unknown format, bad content; the message names the file and the fix.
    """
    path, block = _split_block(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found" if not path.exists() else
                         f"{path}: is a folder, not a curve file")
    raw = _read_raw(path, fmt or sniff_format(path), block)
    return to_curve(path, raw, q_unit=q_unit, intensity_unit=intensity_unit, sigma=sigma,
                    sigma_rel=sigma_rel, drop_invalid=drop_invalid,
                    merge_duplicates=merge_duplicates)


def _write_format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in ("text", "nxcansas"):
            raise InputError(f"{path}: cannot write fmt={fmt!r}; use 'nxcansas' or 'text'")
        return fmt
    suffix = path.suffix.lower()
    if suffix in HDF5_SUFFIXES:
        return "nxcansas"
    if suffix in TEXT_SUFFIXES:
        return "text"
    raise InputError(f"{path}: cannot write a curve with suffix {path.suffix!r}; use .h5 "
                     "(NXcanSAS) or .dat/.txt/.csv (column text)")


def write_curve(path: str | Path, curve: Curve, overwrite: bool = False,
                extra: Mapping[str, Any] | None = None, *, fmt: str | None = None,
                q_unit: str = "1/nm") -> Path:
    """Write a curve as NXcanSAS HDF5 (``.h5``, ``.hdf5``, ``.nxs``) or column text.

    Parameters
    ----------
    path : str or Path
        Destination; the suffix chooses the format. The file is written under a temporary name
        in the same folder and renamed when complete (:func:`saxs.io.atomic.atomic_path`).
    curve : Curve
        The curve to write.
    overwrite : bool
        Replace an existing file. By default an existing file is refused with InputError.
    extra : mapping, optional
        Name -> JSON-able value or numeric array stored with the curve: in the NXcanSAS
        ``saxs_extra`` group (read with :func:`saxs.io.nxcansas.read_extra`), or as
        ``# extra.<name> = <json>`` header lines of a text file. Not needed to read the curve.
    fmt : {"nxcansas", "text"}, optional
        Force the format instead of taking it from the suffix.
    q_unit : {"1/nm", "1/A"}
        The unit q (and its resolution) is written in, stated in the file (the readers
        convert back to 1/nm).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    InputError
        Unknown suffix, existing file without ``overwrite``, metadata that cannot be stored.
    """
    path = Path(path)
    if not isinstance(curve, Curve):
        raise InputError(f"{path}: write_curve needs a saxs.Curve, got {type(curve).__name__}")
    kind = _write_format(path, fmt)
    if q_unit not in WRITTEN_Q_UNITS:
        raise InputError(f"{path}: q_unit {q_unit!r}: curves are written in "
                         f"{' or '.join(WRITTEN_Q_UNITS)}")
    if kind == "text":
        delimiter = "," if path.suffix.lower() == ".csv" else "\t" if \
            path.suffix.lower() == ".tsv" else "  "
        text = "\n".join(text_lines(curve, extra, path.name, delimiter, q_unit)) + "\n"
    with atomic_path(path, overwrite=overwrite) as tmp:
        if kind == "nxcansas":
            write_nxcansas(tmp, curve, extra, path.name, q_unit)
        else:
            tmp.write_text(text, encoding="utf-8")
    return path
