"""Exceptions a user can cause. The CLI turns each into one line on stderr and an exit code.

Anything that is *not* a CycleScanError is a bug (internal error, exit 1).
"""

from __future__ import annotations


class CycleScanError(Exception):
    """Base class for errors with a clear, user-facing message."""

    exit_code = 2


class InputError(CycleScanError):
    """Bad path, unreadable or malformed image, wrong shape, NaN voxels, ..."""


class ConfigError(CycleScanError):
    """Unknown key, wrong type or out-of-range value in a config or --set override."""


class CheckpointError(CycleScanError):
    """Missing, truncated, incompatible or unsafe (pickle-requiring) checkpoint."""


class TrainingError(CycleScanError):
    """Training had to stop (e.g. a non-finite loss); the last good checkpoint is kept."""

    exit_code = 1
