"""The loop's bookkeeping of weights: keeping a localized run's entries outside its masks as they were,
restoring the last state within the retain budget, and counting the entries a run could move."""

from __future__ import annotations

from collections.abc import Callable

import torch


@torch.no_grad()
def keep_outside_masks(
    params: list[torch.nn.Parameter],
    originals: dict[int, torch.Tensor],
    masks: dict[int, Callable[[torch.Tensor], torch.Tensor]],
) -> None:
    """Project each masked parameter's change since the start onto its mask, so the entries outside the
    localized set stay exactly as they were."""
    for p in params:
        if id(p) in originals:
            o = originals[id(p)]
            p.copy_(o + masks[id(p)](p - o))


def unique_entries(params: list[torch.Tensor]) -> int:
    """Weight entries behind ``params``, each counted once (the bridge trains views of fused HF matrices)."""
    spans = sorted((p.data_ptr(), p.data_ptr() + p.numel() * p.element_size(), p.element_size()) for p in params)
    total, end = 0, -1
    for start, stop, size in spans:
        if stop > end:
            total += (stop - max(start, end)) // size
            end = stop
    return total


def free_entries(mask_fn: Callable[[torch.Tensor], torch.Tensor], p: torch.Tensor) -> int:
    """How many entries of ``p`` a gradient projection can move (non-zero after projecting all ones)."""
    return int((mask_fn(torch.ones_like(p)) != 0).sum())


@torch.no_grad()
def restore(params: list[torch.nn.Parameter], snapshot: dict[int, torch.Tensor]) -> None:
    """Copy ``snapshot`` (by parameter id) back into ``params``."""
    for p in params:
        p.copy_(snapshot[id(p)])
