"""Training counted in passes over a text corpus: retraining, distillation, the bundled model, whp's
reinforced copy.

The loop counts optimiser steps; these callers think in epochs over their texts. Their settings
are :class:`EpochConfig`; :func:`mechunlearn.training.loop.train_epochs` is the one place that
turns epochs into steps, builds the data and runs the named objective in the one loop (it lives in
the loop's module so that a method's setup can be handed it without an import circle).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EpochConfig:
    """Args:
    epochs: passes over the texts.
    lr: AdamW learning rate (linear warm-up over the first 5% of steps, then cosine decay).
    batch_size: sequences per step.
    weight_decay: AdamW weight decay.
    seed: batch order.
    """

    epochs: int = 2
    lr: float = 3e-4
    batch_size: int = 16
    weight_decay: float = 0.0
    seed: int = 0
