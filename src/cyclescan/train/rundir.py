"""The run directory (RUN = ``--out``): layout, config guard, log file, stop signals.

Layout::

    RUN/config.yaml                     the config of the run (rewritten on --resume)
    RUN/checkpoints/last.pt             latest resumable state (every epoch and on SIGINT/SIGTERM)
    RUN/checkpoints/best.pt             best validation selection score so far
    RUN/checkpoints/epoch_NNNN.pt       every train.checkpoint_every epochs
    RUN/history.csv                     one row per epoch (rewritten from the checkpoint)
    RUN/tensorboard/                    scalars and sample images
    RUN/samples/epoch_NNNN.png          fixed val volumes: input, translation, reconstruction
    RUN/train.log                       everything printed, with times
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cyclescan.config import Config
from cyclescan.errors import CheckpointError, ConfigError


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    def epoch_ckpt(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch_{epoch:04d}.pt"

    @property
    def history(self) -> Path:
        return self.root / "history.csv"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    def sample_png(self, epoch: int) -> Path:
        return self.samples / f"epoch_{epoch:04d}.png"

    @property
    def log(self) -> Path:
        return self.root / "train.log"


def check_run_dir(paths: RunPaths, cfg: Config, resume: bool) -> None:
    """Refuse to clobber a run: a RUN with another config (or any checkpoint) needs ``--resume``.

    With ``resume``, RUN/checkpoints/last.pt must exist. Raises ConfigError / CheckpointError.
    """
    if resume:
        if not paths.last.is_file():
            raise CheckpointError(f"{paths.last}: nothing to resume (no last checkpoint in {paths.root})")
        return
    if paths.root.exists() and not paths.root.is_dir():
        raise ConfigError(f"{paths.root}: output exists and is not a directory")
    if paths.config.is_file():
        try:
            old = yaml.safe_load(paths.config.read_text())
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            old = None
        if old != cfg.to_dict():
            raise ConfigError(
                f"{paths.config}: this run directory already has a different config; "
                "pass --resume to continue it or choose another --out"
            )
    if paths.last.is_file():
        raise ConfigError(f"{paths.root}: already holds a training run ({paths.last}); pass --resume to continue it")


def create_layout(paths: RunPaths) -> None:
    """Create RUN's folders and remove temporaries a killed earlier run left (``.NAME.*.part*``)."""
    for p in (paths.root, paths.checkpoints, paths.samples, paths.tensorboard):
        p.mkdir(parents=True, exist_ok=True)
    for folder in (paths.root, paths.checkpoints, paths.samples):
        for tmp in folder.glob(".*.part*"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)


class RunLog:
    """One-line messages to stderr and RUN/train.log (with a timestamp), on the main rank only.

    The log is appended line by line and flushed (a stream, not a document: an atomic rewrite per
    line would be quadratic; a crash loses at most the line being written).
    """

    def __init__(self, path: Path | None, enabled: bool = True, echo: bool = True, deferred: bool = False) -> None:
        """``deferred``: keep file lines in memory until :meth:`start` (the run folder may not exist yet)."""
        self.enabled = enabled
        self.echo = echo
        self._path = path if enabled else None
        self._pending: list[str] | None = [] if deferred else None
        self._fh = None
        if not deferred:
            self.start()

    def start(self) -> None:
        """Open the log file (appending) and write the lines kept so far."""
        if self._fh is None and self._path is not None:
            self._fh = open(self._path, "a", encoding="utf-8")
            self._fh.writelines(self._pending or [])
            self._fh.flush()
        self._pending = None

    def __call__(self, msg: str) -> None:
        if not self.enabled:
            return
        if self.echo:
            print(msg, file=sys.stderr, flush=True)
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n"
        if self._pending is not None:
            self._pending.append(line)
        elif self._fh is not None:
            self._fh.write(line)
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class StopFlag:
    """SIGINT/SIGTERM set ``requested``; the trainer saves at the next step and exits cleanly.

    A second SIGINT restores the default handler behaviour (KeyboardInterrupt) for an impatient
    user. Handlers are only installed from the main thread and are restored by ``restore()``.
    """

    def __init__(self, log: RunLog | None = None) -> None:
        self.requested = False
        self.signal_name = ""
        self._log = log
        self._old: dict[int, Any] = {}

    def install(self) -> "StopFlag":
        import threading

        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.signal_name = signal.Signals(signum).name
        if self._log is not None:
            self._log(f"{self.signal_name} received: saving a resumable checkpoint after this step")

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
