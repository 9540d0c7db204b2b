"""Histogram prior: a fixed, monotone intensity mapping from one domain to the other.

Built once from the two domains' *training* foreground quantiles (the checkpoint ``reference``, in
model space [-1, 1]): ``prior_ab(x) = Q_b(F_a(x))`` with ``F_a`` the CDF of domain A's training
foreground and ``Q_b`` domain B's quantile function. It is the domain-level version of the
``histmatch`` baseline (which matches each test volume's own histogram) and uses only unpaired
information: the two marginal histograms. Voxels darker than A's darkest foreground quantile (air)
map to the floor -1, where a normalized target's air lies.

``loss.histogram_prior_weight`` pulls each generator's output toward this mapping of its input
(L1, weighted like the identity loss as a fraction of ``lambda_cycle``): a prior for problems whose
contrasts are related by a roughly monotone intensity change (e.g. echo 1 -> echo 8 of a T2
series), which the identity loss would pull toward *no* change. The GAN and cycle terms refine it.

The mapping is tabulated on a uniform grid over [-1, 1] (nets/quantile_map.py) so a training
step costs one gather + lerp per voxel.
"""

from __future__ import annotations

import numpy as np
import torch

from cyclescan.data.histogram import quantile_map_table
from cyclescan.nets.quantile_map import apply_table


class HistogramPrior:
    """Both directions' tables from the training reference quantiles {'a': (n,), 'b': (n,)}."""

    def __init__(self, reference: dict[str, np.ndarray | torch.Tensor]) -> None:
        ref = {k: np.asarray(v.detach().cpu() if torch.is_tensor(v) else v, dtype=np.float64)
               for k, v in reference.items()}
        self.tables = {"a2b": torch.from_numpy(quantile_map_table(ref["a"], ref["b"])),
                       "b2a": torch.from_numpy(quantile_map_table(ref["b"], ref["a"]))}

    def __call__(self, x: torch.Tensor, direction: str) -> torch.Tensor:
        """The prior's translation of ``x`` (B,1,D,H,W) in [-1, 1] for 'a2b' or 'b2a'."""
        return apply_table(x, self.tables[direction])
