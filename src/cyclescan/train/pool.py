"""Image pool of past generated volumes for discriminator updates (Shrivastava et al. 2017).

As in the original CycleGAN: while the pool has room, each new fake is stored and returned; once
full, each new fake is returned as is with probability 0.5, otherwise a random stored fake is
returned and replaced by the new one. Size 0 disables the pool (fakes pass through).

Randomness comes from the pool's own ``torch.Generator`` (seeded in the constructor, saved in
``state_dict``) so training is reproducible and resumable independently of the global RNG.
"""

from __future__ import annotations

import torch

from cyclescan.errors import CheckpointError


class ImagePool:
    """Pool of up to ``pool_size`` volumes, each (1, D, H, W); queried with batches (B, 1, D, H, W)."""

    def __init__(self, pool_size: int, seed: int = 0) -> None:
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}")
        self.pool_size = int(pool_size)
        self.images: list[torch.Tensor] = []
        self.rng = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch like ``images`` (B, 1, D, H, W), mixing in stored fakes; detached, fp32."""
        images = images.detach().float()
        if self.pool_size == 0:
            return images
        out = []
        for image in images:
            image = image.clone()
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif torch.rand((), generator=self.rng).item() < 0.5:
                idx = int(torch.randint(len(self.images), (), generator=self.rng).item())
                stored = self.images[idx].to(image.device)
                self.images[idx] = image
                out.append(stored)
            else:
                out.append(image)
        return torch.stack(out, dim=0)

    def state_dict(self) -> dict:
        """Tensors and plain types only (``torch.load(weights_only=True)`` safe); images on CPU."""
        return {
            "pool_size": self.pool_size,
            "images": [im.detach().cpu() for im in self.images],
            "rng": self.rng.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore stored images and RNG state (images stay on CPU until returned by ``query``)."""
        if int(state["pool_size"]) != self.pool_size:
            raise CheckpointError(
                f"image pool size mismatch: checkpoint has {state['pool_size']}, config train.pool_size={self.pool_size}"
            )
        self.images = [im.clone() for im in state["images"]]
        self.rng.set_state(state["rng"])
