"""Atomic file writes: write to a temp file in the same directory, fsync, then rename.

An interrupted or failed write (exception, kill -9, disk full) never leaves a partial file at the
destination; a previous file at that path survives until the rename succeeds.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from cyclescan.errors import InputError
from cyclescan.faults import fault_point


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success rename it onto ``dest``.

    ``suffix`` defaults to the destination's full suffix (e.g. ``.nii.gz``) so libraries that pick
    the format from the extension still work.
    """
    dest = Path(dest)
    if dest.is_dir():  # say so now, naming dest (the rename would fail later, naming the temp file)
        raise InputError(f"{dest}: is a folder; give a file name")
    if suffix is None:
        suffix = "".join(dest.suffixes) or ".tmp"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".part{suffix}", dir=dest.parent)
    except PermissionError as exc:
        raise InputError(f"{dest}: cannot write into {dest.parent} (permission denied)") from exc
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions, like open()
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        fault_point(f"write:{dest.name}")  # crash-safety tests: temp complete, not yet renamed
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(dest: str | os.PathLike, data: bytes) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(dest: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(dest, text.encode("utf-8"))
