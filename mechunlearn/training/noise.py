"""Shrink and perturb: move weights part of the way towards fresh noise (UNDO's student, Lee et al. 2025).

    W <- (1 - alpha) * W + alpha * std(W) * eps,   eps ~ N(0, 1), per weight matrix

"Distillation Robustifies Unlearning" (arXiv 2506.06278): distilling an unlearned model's outputs
into a partially noised copy of itself leaves behind the latent capability that output-matching
unlearning keeps in the weights; ``alpha`` trades compute (how much the student must relearn)
for robustness to relearning attacks. Noise of each matrix's own scale stands in for a fresh
initialisation. Vectors (norm gains, biases) are left alone: their initialisation is not noise.
"""

from __future__ import annotations

import torch

from mechunlearn.core.errors import MechUnlearnError


@torch.no_grad()
def shrink_and_perturb(params: list[torch.nn.Parameter], alpha: float, seed: int = 0) -> int:
    """Apply the formula in place to every parameter with two or more dimensions; returns how many
    entries moved. ``alpha`` 0 changes nothing, 1 replaces the matrices by noise of their scale."""
    if not 0.0 <= alpha <= 1.0:
        raise MechUnlearnError(f"noise must be a fraction in [0, 1] (0: no noise, 1: all noise), got {alpha}")
    if alpha == 0.0:
        return 0
    g = torch.Generator().manual_seed(seed)
    moved, seen = 0, set()
    for p in params:
        if p.dim() < 2 or p.data_ptr() in seen:  # tied weights once
            continue
        seen.add(p.data_ptr())
        scale = alpha * float(p.float().std())  # the matrix's own scale, before it shrinks
        eps = torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.device, p.dtype)
        p.mul_(1.0 - alpha).add_(eps * scale)
        moved += p.numel()
    return moved
