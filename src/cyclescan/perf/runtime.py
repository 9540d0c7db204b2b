"""Runtime tuning shared by train / translate / benchmark: threads, allocator, CPU facts.

Nothing here changes numerics except ``set_flush_denormal`` (subnormal fp32 values become 0,
which is harmless for GAN training and avoids 10-100x slow paths on x86).

Typical use from a CLI ``run()``::

    from cyclescan.perf.runtime import configure_runtime
    settings = configure_runtime(cfg.train.num_threads)   # before building the nets

and, once per process before torch is imported, ``maybe_reexec_with_jemalloc()`` (called by
``cli/main.py`` for the heavy subcommands).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

#: Opt-out: set to 1 to never re-exec the CLI with jemalloc preloaded.
NO_JEMALLOC_ENV = "CYCLESCAN_NO_JEMALLOC"
#: Set in the child environment to stop re-exec loops.
REEXEC_GUARD_ENV = "CYCLESCAN_JEMALLOC_REEXEC"
#: Debian/Ubuntu ``libjemalloc2`` first, then other common locations.
JEMALLOC_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
    "/usr/lib64/libjemalloc.so.2",
    "/usr/local/lib/libjemalloc.so.2",
    "/usr/lib/libjemalloc.so.2",
)
#: jemalloc tuning used when we preload it (background purge thread, lazy return of pages);
#: the PyTorch CPU performance guide recommends these for training loops.
JEMALLOC_CONF = "oversize_threshold:1,background_thread:true,metadata_thp:auto,dirty_decay_ms:10000,muzzy_decay_ms:10000"


# ---------------------------------------------------------------------------------------------
# jemalloc


def find_jemalloc() -> Optional[Path]:
    """Path of an installed ``libjemalloc.so.2``, or None."""
    for cand in JEMALLOC_CANDIDATES:
        if Path(cand).is_file():
            return Path(cand)
    return None


def jemalloc_loaded() -> bool:
    """True when jemalloc is mapped into *this* process (reads ``/proc/self/maps``)."""
    try:
        return "libjemalloc" in Path("/proc/self/maps").read_text()
    except OSError:
        return False


def jemalloc_env(env: Optional[dict] = None, lib: Optional[Path] = None) -> dict:
    """A copy of ``env`` (default: os.environ) with jemalloc added to ``LD_PRELOAD``.

    Returned unchanged (copied) when no jemalloc library is installed.
    """
    out = dict(os.environ if env is None else env)
    lib = lib or find_jemalloc()
    if lib is None:
        return out
    pre = [p for p in out.get("LD_PRELOAD", "").split(":") if p]
    if str(lib) not in pre:
        pre.insert(0, str(lib))
    out["LD_PRELOAD"] = ":".join(pre)
    out.setdefault("MALLOC_CONF", JEMALLOC_CONF)
    return out


def plain_env(env: Optional[dict] = None) -> dict:
    """A copy of ``env`` without jemalloc in ``LD_PRELOAD`` (the naive default allocator)."""
    out = dict(os.environ if env is None else env)
    pre = [p for p in out.get("LD_PRELOAD", "").split(":") if p and "jemalloc" not in p]
    if pre:
        out["LD_PRELOAD"] = ":".join(pre)
    else:
        out.pop("LD_PRELOAD", None)
    if out.get("MALLOC_CONF") == JEMALLOC_CONF:
        out.pop("MALLOC_CONF")
    out[NO_JEMALLOC_ENV] = "1"
    for k, v in OMP_ENV_DEFAULTS.items():  # naive = library defaults
        if out.get(k) == v:
            out.pop(k)
    return out


def should_reexec_with_jemalloc(env: Optional[dict] = None) -> bool:
    """Whether :func:`maybe_reexec_with_jemalloc` would re-exec (for tests and logging)."""
    env = os.environ if env is None else env
    if env.get(NO_JEMALLOC_ENV, "") not in ("", "0") or env.get(REEXEC_GUARD_ENV):
        return False
    if not sys.platform.startswith("linux") or find_jemalloc() is None:
        return False
    return not jemalloc_loaded()


#: OpenMP waiting policy set before torch loads (libgomp reads it once). PASSIVE threads sleep
#: at barriers instead of spinning: measured 9-12x faster CycleGAN steps on 2 shared cores
#: under load (spinning threads fight other processes), ~equal on an idle machine.
OMP_ENV_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}


def prepare_process_env(env: Optional[dict] = None) -> None:
    """Set OpenMP defaults in ``env`` (default: os.environ) unless the user set them.

    Must run before ``import torch`` to take effect in this process (the CLI calls it first).
    """
    env = os.environ if env is None else env
    for k, v in OMP_ENV_DEFAULTS.items():
        env.setdefault(k, v)


def maybe_reexec_with_jemalloc() -> None:
    """Replace this process by the same command with jemalloc in ``LD_PRELOAD`` (Linux only).

    No-op when jemalloc is missing, already loaded, opted out (``CYCLESCAN_NO_JEMALLOC=1``) or
    this is already the re-executed child. Call it early (before heavy imports) and only from a
    real command-line invocation: ``execv`` replaces the running interpreter, so never from a
    library call or a test. ``sys.orig_argv`` restores the exact interpreter command line
    (``python -m ...``, console script, flags).
    """
    if not should_reexec_with_jemalloc():
        return
    env = jemalloc_env()
    env[REEXEC_GUARD_ENV] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, list(sys.orig_argv), env)
    except OSError:  # pragma: no cover - exec failure: just run without jemalloc
        return


# ---------------------------------------------------------------------------------------------
# threads and backend flags


@dataclass
class RuntimeSettings:
    """What :func:`configure_runtime` applied (recorded in benchmark JSON / run logs)."""

    num_threads: int
    interop_threads: Optional[int]
    flush_denormal: bool
    mkldnn_enabled: bool
    jemalloc: bool

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def physical_cores() -> int:
    """Physical cores available to this process (affinity mask, SMT siblings removed)."""
    try:
        logical = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        logical = os.cpu_count() or 1
    try:
        import psutil

        phys = psutil.cpu_count(logical=False) or logical
        total = psutil.cpu_count(logical=True) or logical
        return max(1, logical * phys // total)
    except Exception:  # noqa: BLE001 - psutil missing or unsupported platform
        return max(1, logical)


def free_cores(cores: Optional[int] = None) -> int:
    """Cores not already busy: ``cores`` (default physical) minus the 1-min load average, >= 1.

    On a machine shared with other jobs, more OpenMP threads than free cores makes every
    parallel region wait for descheduled threads (measured: 2 threads 18 s/step vs 1 thread
    1.4 s/step at load 7 on 2 cores). On an idle machine this is all cores.
    """
    n = cores or physical_cores()
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - non-Unix
        busy = 0.0
    return max(1, min(n, int(n - busy + 0.5)))


def configure_runtime(num_threads: Optional[int] = None, flush_denormal: bool = True) -> RuntimeSettings:
    """Apply the CPU runtime tuning for this process; safe to call more than once.

    - intra-op threads = ``num_threads`` or the free physical cores (:func:`free_cores`; SMT
      siblings and busy cores only add contention for conv/matmul kernels); the inter-op pool is set to 1 on first use (a CycleGAN step is a
      chain of dependent ops: a second pool only competes for the same cores);
    - ``torch.set_flush_denormal(True)`` (fp32 denormals to zero);
    - oneDNN (mkldnn) enabled for convolutions.
    """
    import numpy as np
    import torch

    np.finfo(np.float32), np.finfo(np.float64)  # cache before flush-denormal (else numpy warns)
    n = int(num_threads or free_cores())
    torch.set_num_threads(n)
    interop: Optional[int] = None
    try:
        torch.set_num_interop_threads(1)
        interop = 1
    except RuntimeError:  # already set or parallel work already started in this process
        interop = torch.get_num_interop_threads()
    fd = bool(torch.set_flush_denormal(flush_denormal)) if flush_denormal else False
    torch.backends.mkldnn.enabled = True
    return RuntimeSettings(n, interop, fd, torch.backends.mkldnn.enabled, jemalloc_loaded())


# ---------------------------------------------------------------------------------------------
# machine facts


def cpu_model() -> str:
    """CPU model name from ``lscpu`` (falls back to /proc/cpuinfo, then platform)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5, check=False).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        if m:
            return m.group(1).strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        if m:
            return m.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """x86 feature flags from /proc/cpuinfo (empty set elsewhere)."""
    try:
        m = re.search(r"^flags\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        return set(m.group(1).split()) if m else set()
    except OSError:
        return set()


def onednn_version() -> Optional[str]:
    """oneDNN (MKL-DNN) version torch was built with, parsed from ``torch.__config__.show()``."""
    import torch

    m = re.search(r"(?:MKL-DNN|oneDNN)\s+v?([\d.]+)", torch.__config__.show())
    return m.group(1) if m else None


def has_native_bf16() -> bool:
    """Whether the CPU has bf16 dot-product instructions (AVX512_BF16 / AMX_BF16).

    Without them oneDNN emulates bf16 through fp32 and bf16 autocast gives no conv speedup.
    """
    flags = cpu_flags()
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def machine_info() -> dict:
    """Facts recorded with every benchmark: CPU, cores, ISA, library versions, allocator."""
    import torch

    info = {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": physical_cores(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_version": torch.__version__,
        "onednn_version": onednn_version(),
        "mkldnn_available": bool(torch.backends.mkldnn.is_available()),
        "isa": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": has_native_bf16(),
        "python": platform.python_version(),
        "jemalloc_installed": str(find_jemalloc()) if find_jemalloc() else None,
        "jemalloc_loaded": jemalloc_loaded(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def bf16_is_fast(device: str = "cpu") -> bool:
    """Whether bf16 autocast can speed up convolutions on ``device`` (a device string).

    Delegates to :func:`cyclescan.nets.precision.bf16_fast` (the one place that decides): CPU only
    with a native oneDNN bf16 path (AVX512-BF16 / AMX); on AVX2-only CPUs bf16 convs take the
    reference ``slow_conv3d`` path (measured 20-90x slower than fp32 oneDNN).
    """
    from cyclescan.nets.precision import bf16_fast

    return bf16_fast(device.split(":")[0])


def resolve_precision(requested: str, device: str = "cpu") -> str:
    """The precision to actually run, 'fp32' or 'bf16': the project rule of
    :func:`cyclescan.nets.precision.resolve_precision` ('auto' -> bf16 only where fast; an explicit
    'fp32'/'bf16' is honoured). The tuned benchmark asks for 'auto', like the config default.
    """
    from cyclescan.nets.precision import resolve_precision as _resolve

    return _resolve(requested, device.split(":")[0])
