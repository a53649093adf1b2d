"""Measuring a model in full precision while it trains under mixed precision."""

from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def full_precision(module: torch.nn.Module):
    """``module`` without accelerate's mixed-precision wrapper (its ``forward`` runs under autocast) for the
    duration: checks of the model as it is now are measured as the evaluation after training measures it."""
    original = getattr(module, "_original_forward", None)
    if original is None:
        yield
        return
    wrapped = module.forward
    module.forward = original
    try:
        yield
    finally:
        module.forward = wrapped
