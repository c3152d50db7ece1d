"""Job records: one JSON file per job with its parameters, inputs, outputs, status and timings.

A record is written (atomically) after its job has finished, successfully or not. ``--resume``
trusts a job only when its record says "ok", every recorded output still has the recorded size
and SHA-256, and the inputs still have the recorded size and modification time; anything else
is run again. ``saxs reprocess RECORD`` runs the job stored in a record once more.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from saxs.errors import InputError
from saxs.io.atomic import atomic_path

SCHEMA = 1


@dataclass(frozen=True)
class JobSpec:
    """One job of a batch: its stage and name, the output folder, the parameters that shape
    its result, its input and output files, and whether it may replace existing outputs.
    JSON-able (:meth:`to_dict`), so it runs in any process (a local pool, Dask workers)."""

    stage: str
    name: str
    out: str
    params: dict[str, Any]
    inputs: dict[str, str]
    outputs: dict[str, str]
    overwrite: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what records store)."""
        return {"stage": self.stage, "name": self.name, "out": self.out, "params": self.params,
                "inputs": self.inputs, "outputs": self.outputs, "overwrite": self.overwrite}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "job spec") -> JobSpec:
        """Inverse of :meth:`to_dict` (InputError naming what is missing)."""
        missing = [k for k in ("stage", "name", "out", "params", "inputs", "outputs")
                   if k not in data]
        if missing:
            raise InputError(f"{where}: the job spec lacks {', '.join(missing)}")
        return cls(stage=str(data["stage"]), name=str(data["name"]), out=str(data["out"]),
                   params=dict(data["params"]), inputs=dict(data["inputs"]),
                   outputs=dict(data["outputs"]), overwrite=bool(data.get("overwrite", False)))

    def replace(self, **changes: Any) -> JobSpec:
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class JobRecord:
    """What became of a job: status ("ok", "failed", "skipped"), when and how long, where
    (host, process), with which package versions, the inputs' sizes and times, the outputs'
    fingerprints, the error and traceback of a failure, and the record file's path."""

    spec: JobSpec
    status: str
    started: float
    seconds: float
    versions: dict[str, str]
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    host: str | None = None
    pid: int | None = None
    record: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, as records are written (fields that are None left out)."""
        out: dict[str, Any] = {"schema": SCHEMA, "spec": self.spec.to_dict(),
                               "status": self.status}
        for key in ("host", "pid", "started", "versions", "inputs", "seconds", "outputs",
                    "error", "traceback", "record"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "job record") -> JobRecord:
        """Inverse of :meth:`to_dict`; reads the records of earlier versions too."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA or "spec" not in data:
            raise InputError(f"{where}: not a job record of schema {SCHEMA}")
        return cls(spec=JobSpec.from_dict(data["spec"], where), status=str(data["status"]),
                   started=float(data.get("started", 0.0)),
                   seconds=float(data.get("seconds", 0.0)),
                   versions=dict(data.get("versions") or {}),
                   inputs=dict(data.get("inputs") or {}),
                   outputs=dict(data.get("outputs") or {}), error=data.get("error"),
                   traceback=data.get("traceback"), host=data.get("host"),
                   pid=data.get("pid"), record=data.get("record"))

    @property
    def ok(self) -> bool:
        """True when the job ran and wrote its outputs."""
        return self.status == "ok"


def record_path(spec: JobSpec) -> Path:
    """Where the record of ``spec`` lives: ``OUT/records/<stage>/<name>.json``."""
    return Path(spec.out) / "records" / spec.stage / f"{spec.name}.json"


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
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    """Looked up once a process (each look-up scans the installed distributions: ~20 ms)."""
    from importlib import metadata  # noqa: PLC0415

    out = {"python": platform.python_version()}
    for name in ("saxs", "numpy", "scipy", "numba", "pyFAI", "fabio", "h5py", "lmfit"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def write_record(record: JobRecord) -> JobRecord:
    """Write the record of a finished job (replacing an older one); the record with its path."""
    path = record_path(record.spec)
    record = replace(record, record=str(path))
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(record.to_dict(), indent=2, default=str))
    return record


def read_record(path: str | os.PathLike) -> JobRecord:
    """A record written by :func:`write_record` (or by an earlier version)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: record not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a job record ({exc})") from None
    return JobRecord.from_dict(data, str(path))


def is_complete(spec: JobSpec) -> bool:
    """True when the job's record is "ok" and its inputs and outputs are as recorded."""
    path = record_path(spec)
    if not path.is_file():
        return False
    try:
        record = read_record(path)
    except InputError:
        return False
    if not record.ok or record.spec.params != spec.params:
        return False
    if record.inputs != stamps(spec.inputs):
        return False
    return bool(record.outputs) and all(
        value is not None and fingerprint(spec.outputs[key]) == value
        for key, value in record.outputs.items())


@dataclass
class BatchResult:
    """Records of every job of a batch, by stage."""

    out: Path
    records: dict[str, list[JobRecord]] = field(default_factory=dict)
    #: wall time of each stage, s
    seconds: dict[str, float] = field(default_factory=dict)

    def all(self) -> list[JobRecord]:
        """Every record."""
        return [r for stage in self.records.values() for r in stage]

    @property
    def failed(self) -> list[JobRecord]:
        """Records of failed jobs."""
        return [r for r in self.all() if r.status == "failed"]

    def timing(self) -> str:
        """Where the time went: each stage's wall time and its slowest job."""
        parts = []
        for stage, wall in self.seconds.items():
            jobs = [r for r in self.records.get(stage, []) if r.seconds]
            if not jobs:
                continue
            slowest = max(jobs, key=lambda r: r.seconds)
            parts.append(f"{stage} {wall:.1f} s ({len(jobs)} jobs, slowest "
                         f"{slowest.spec.name} {slowest.seconds:.1f} s)")
        return "time by stage: " + ", ".join(parts) if parts else ""

    @property
    def skipped(self) -> list[JobRecord]:
        """Records of jobs not run because an input failed."""
        return [r for r in self.all() if r.status == "skipped"]
