"""Volume I/O: the Volume type, NIfTI and DICOM readers/writers, orientation, discovery.

Public API (imported lazily so ``import cyclescan.io.atomic`` stays cheap)::

    read_volume(path, echo=None) -> Volume        # NIfTI file or DICOM series folder
    write_nifti(vol, path, dtype="float32")       # atomic
    write_dicom_series(vol, out_dir, source, description) -> Path   # atomic folder
    list_volumes(path) -> list[Path]
    list_echoes(dicom_dir) -> list[dict]
    canonicalize(vol, target="RIP") -> (Volume, Reorientation)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Volume": "cyclescan.io.volume",
    "read_volume": "cyclescan.io.discover",
    "list_volumes": "cyclescan.io.discover",
    "read_nifti": "cyclescan.io.nifti",
    "write_nifti": "cyclescan.io.nifti",
    "read_dicom_series": "cyclescan.io.dicom",
    "list_echoes": "cyclescan.io.dicom",
    "read_dicom_echoes": "cyclescan.io.dicom",
    "write_dicom_series": "cyclescan.io.dicom_write",
    "canonicalize": "cyclescan.io.orientation",
    "Reorientation": "cyclescan.io.orientation",
    "DEFAULT_ORIENTATION": "cyclescan.io.orientation",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'cyclescan.io' has no attribute {name!r}")
