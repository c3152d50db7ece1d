"""Job records: one JSON file per job with its parameters, inputs, outputs, status and timings.

A record is written (atomically) after its job has finished, successfully or not. ``--resume``
trusts a job only when its record says "ok", every recorded output still has the recorded size
and SHA-256, and the inputs still have the recorded size and modification time; anything else
is run again. ``saxs reprocess RECORD`` runs the job stored in a record once more.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saxs.errors import InputError
from saxs.io.atomic import atomic_path

SCHEMA = 1


def record_path(spec: dict[str, Any]) -> Path:
    """Where the record of ``spec`` lives: ``OUT/records/<stage>/<name>.json``."""
    return Path(spec["out"]) / "records" / spec["stage"] / f"{spec['name']}.json"


def fingerprint(path: str | os.PathLike) -> dict[str, Any] | None:
    """Size and SHA-256 of a file, or None when it does not exist."""
    path = Path(path)
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"size": path.stat().st_size, "sha256": digest.hexdigest()}


def fingerprints(paths: dict[str, str]) -> dict[str, Any]:
    """Fingerprint of every named file."""
    return {key: fingerprint(path) for key, path in paths.items()}


def stamps(paths: dict[str, str]) -> dict[str, Any]:
    """Size and modification time of every named input (cheap: raw stacks are large)."""
    out: dict[str, Any] = {}
    for key, path in paths.items():
        p = Path(path)
        out[key] = [p.stat().st_size, p.stat().st_mtime_ns] if p.is_file() else None
    return out


def versions() -> dict[str, str]:
    """Versions of the package and the libraries that shape the numbers."""
    from importlib import metadata  # noqa: PLC0415

    out = {"python": platform.python_version()}
    for name in ("saxs", "numpy", "scipy", "numba", "pyFAI", "fabio", "h5py", "lmfit"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_record(record: dict[str, Any]) -> Path:
    """Write the record of a finished job (replacing an older one)."""
    path = record_path(record["spec"])
    record["record"] = str(path)
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str))
    return path


def read_record(path: str | os.PathLike) -> dict[str, Any]:
    """A record written by :func:`write_record`."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: record not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a job record ({exc})") from None
    if not isinstance(record, dict) or record.get("schema") != SCHEMA or "spec" not in record:
        raise InputError(f"{path}: not a job record of schema {SCHEMA}")
    return record


def is_complete(spec: dict[str, Any]) -> bool:
    """True when the job's record is "ok" and its inputs and outputs are as recorded."""
    path = record_path(spec)
    if not path.is_file():
        return False
    try:
        record = read_record(path)
    except InputError:
        return False
    if record.get("status") != "ok":
        return False
    if record["spec"].get("params") != spec.get("params"):
        return False
    if record.get("inputs") != stamps(spec.get("inputs", {})):
        return False
    outputs = record.get("outputs") or {}
    return bool(outputs) and all(
        value is not None and fingerprint(spec["outputs"][key]) == value
        for key, value in outputs.items())


@dataclass
class BatchResult:
    """Records of every job of a batch, by stage."""

    out: Path
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: wall time of each stage, s
    seconds: dict[str, float] = field(default_factory=dict)

    def all(self) -> list[dict[str, Any]]:
        """Every record."""
        return [r for stage in self.records.values() for r in stage]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Records of failed jobs."""
        return [r for r in self.all() if r["status"] == "failed"]

    def timing(self) -> str:
        """Where the time went: each stage's wall time and its slowest job."""
        parts = []
        for stage, wall in self.seconds.items():
            jobs = [r for r in self.records.get(stage, []) if r.get("seconds")]
            if not jobs:
                continue
            slowest = max(jobs, key=lambda r: r["seconds"])
            parts.append(f"{stage} {wall:.1f} s ({len(jobs)} jobs, slowest "
                         f"{slowest['spec']['name']} {slowest['seconds']:.1f} s)")
        return "time by stage: " + ", ".join(parts) if parts else ""

    @property
    def skipped(self) -> list[dict[str, Any]]:
        """Records of jobs not run because an input failed."""
        return [r for r in self.all() if r["status"] == "skipped"]
