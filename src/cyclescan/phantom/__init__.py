"""Physics-based synthetic knee phantom (anatomy, CISS/DESS signal equations, bias, Rician noise).

Public API: ``generate_dataset(out_dir, ...) -> Path`` and ``LABELS`` (label name -> integer).
"""

from cyclescan.phantom.dataset import PhantomConfig, generate_dataset
from cyclescan.phantom.tissues import LABELS, TISSUES

__all__ = ["LABELS", "TISSUES", "PhantomConfig", "generate_dataset"]
