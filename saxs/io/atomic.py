"""Atomic, non-overwriting file creation shared by every writer of the package.

A writer asks :func:`atomic_path` for a temporary name in the destination folder, writes the
whole file there, and the file appears under its real name only when the writer has finished
without error (DESIGN.md §5). A reader therefore never sees a half-written file, and a failed
or interrupted write leaves nothing behind.

Example
-------
>>> with atomic_path("processed/cdse_00012.h5") as tmp:   # doctest: +SKIP
...     with h5py.File(tmp, "w") as f:
...         f["x"] = 1.0
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from saxs.errors import InputError, SaxsError

logger = logging.getLogger(__name__)


def temporary_sibling(path: Path) -> Path:
    """A hidden, unused name beside ``path`` that keeps its suffix.

    The suffix is kept because libraries such as h5py and fabio choose the format from it.
    """
    token = secrets.token_hex(6)
    return path.with_name(f".{path.stem}.{token}.tmp{path.suffix}")


def _check_destination(path: Path, overwrite: bool) -> None:
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name to write to")
    if path.exists() and not overwrite:
        raise InputError(f"{path}: file exists; pass overwrite=True (or --overwrite) to "
                         "replace it, or choose another name")


def _fsync(path: Path) -> None:
    """Flush ``path``'s data to disk so the rename never exposes an empty file after a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    """Move the finished ``tmp`` onto ``path``, never replacing a file unless ``overwrite``."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        # A hard link fails if ``path`` appeared meanwhile: no race with another writer.
        os.link(tmp, path)
    except FileExistsError:
        raise InputError(f"{path}: file was created by someone else while writing; pass "
                         "overwrite=True to replace it") from None
    except OSError:
        # File systems without hard links (some network and FAT mounts): check, then rename.
        if path.exists():
            raise InputError(f"{path}: file exists; pass overwrite=True to replace it") from None
        os.replace(tmp, path)
        return
    tmp.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, overwrite: bool = False,
                fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it is renamed onto ``path``.

    Parameters
    ----------
    path : str or path-like
        The file to create. Missing parent folders are created.
    overwrite : bool
        Replace an existing ``path``. When False (the default) an existing file is refused
        before anything is written, and again at the end if one appeared meanwhile.
    fsync : bool
        Flush the temporary file to disk before the rename.

    Yields
    ------
    pathlib.Path
        A hidden name in the same folder with the same suffix (``.name.<random>.tmp.h5``).
        The caller creates the file there; it must not exist yet.

    Raises
    ------
    InputError
        ``path`` exists and ``overwrite`` is False, or ``path`` is a folder.
    SaxsError
        The block finished without creating the temporary file.

    Notes
    -----
    If the block raises (or is interrupted), the temporary file is removed and the exception
    propagates; ``path`` is left as it was. The rename is atomic on POSIX and Windows when the
    temporary file and ``path`` are on the same file system, which holds because they share a
    folder.
    """
    path = Path(path)
    _check_destination(path, overwrite)
    if not path.parent.exists():
        logger.debug("creating folder %s", path.parent)
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        if not tmp.is_file():
            raise SaxsError(f"{path}: the writer finished without creating {tmp.name}")
        if fsync:
            _fsync(tmp)
        _publish(tmp, path, overwrite)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    logger.debug("wrote %s", path)
