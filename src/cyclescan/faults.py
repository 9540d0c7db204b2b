"""Deterministic fault injection for the crash-safety tests (a no-op unless CYCLESCAN_FAULT is set).

Code calls ``fault_point(name)`` at named moments; the environment variable

    CYCLESCAN_FAULT="PATTERN:COUNT[:ACTION][,PATTERN:COUNT[:ACTION]...]"

makes the COUNT-th (1-based) call whose name matches PATTERN (``fnmatch``: ``write:last.pt``,
``write:*.nii.gz``, ``step``) perform ACTION, once per process:

- ``kill`` (default): SIGKILL this process (a power cut / OOM kill: nothing is flushed or cleaned);
- ``sigint`` / ``sigterm``: send that signal to this process (a user's Ctrl-C / a scheduler's stop);
- ``enospc``: raise ``OSError(ENOSPC)`` (disk full) from the call.

Named points (see docs/reliability.md): ``step`` (inside CycleGAN.step, after the generator
update, before the discriminator update), ``validation`` (between validation volumes),
``epoch_end`` (after an epoch's files are committed, before the next epoch starts), and
``write:<file name>`` (io/atomic.py: the temporary file is complete, not yet renamed; this covers
checkpoints, sample PNGs, history.csv and every translated output).

Lives at the package top (like errors.py) because io/atomic.py, which nothing else may import
above, calls it. The hit counters are per-process state kept on this module: a test helper that
must be reachable from anywhere without threading an object through every writer.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import signal

ENV = "CYCLESCAN_FAULT"
ACTIONS = ("kill", "sigint", "sigterm", "enospc")

_hits: dict[str, int] = {}  # spec -> calls matched so far in this process


def parse_spec(spec: str) -> list[tuple[str, int, str]]:
    """``"write:last.pt:2:kill,step:5"`` -> [("write:last.pt", 2, "kill"), ("step", 5, "kill")].

    The count is the last integer field; an action may follow it. ValueError on a malformed spec.
    """
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        parts = item.split(":")
        action = "kill"
        if parts[-1] in ACTIONS:
            action = parts.pop()
        if len(parts) < 2 or not parts[-1].isdigit() or int(parts[-1]) < 1:
            raise ValueError(f"{ENV}: {item!r} is not PATTERN:COUNT[:ACTION]")
        out.append((":".join(parts[:-1]), int(parts[-1]), action))
    return out


def fault_point(name: str) -> None:
    """Mark the named moment; act if CYCLESCAN_FAULT asks for it here (else return at once)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    for pattern, count, action in parse_spec(spec):
        if not fnmatch.fnmatchcase(name, pattern):
            continue
        key = f"{pattern}:{count}:{action}"
        _hits[key] = _hits.get(key, 0) + 1
        if _hits[key] != count:
            continue
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "sigint":
            os.kill(os.getpid(), signal.SIGINT)
        elif action == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
        elif action == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC) + f" (injected at {name})")


def reset() -> None:
    """Forget the hit counts (tests that set CYCLESCAN_FAULT in-process call this first)."""
    _hits.clear()
