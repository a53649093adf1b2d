"""Training counted in passes over a text corpus: retraining, distillation, the bundled model.

The loop counts optimiser steps; these callers think in epochs over their texts. One place turns
epochs into steps, builds the data (the texts as the retain side, optionally batched by length)
and runs the named objective in the one loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mechunlearn.models.hooked import HookedLM
from mechunlearn.training.loop import TrainResult


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


def train_epochs(
    model: HookedLM,
    objective: str,
    texts: Sequence[Any],
    cfg: EpochConfig,
    *,
    bucket: bool = False,
    max_len: int | None = None,
    options: dict[str, Any] | None = None,
    on_step: Callable[[dict], None] | None = None,
    embeddings: bool = True,
) -> TrainResult:
    """Train all of ``model``'s weights on ``objective`` (a registered method reading retain rows only:
    ``sft``, ``distill``) for ``cfg.epochs`` passes over ``texts`` (strings or ready examples).
    ``bucket`` batches texts of similar length together; ``embeddings=False`` leaves the token embedding
    and unembedding matrices frozen."""
    from mechunlearn.training.data import UnlearnData
    from mechunlearn.training.loop import TrainConfig, train
    from mechunlearn.unlearning import make_method

    data = UnlearnData(
        model, [], list(texts), max_len=max_len or model.n_ctx, seed=cfg.seed, bucket=cfg.batch_size if bucket else 0
    )
    steps = max(1, cfg.epochs * data.batches_per_pass("retain", cfg.batch_size))
    method = make_method(objective, {"steps": steps, "lr": cfg.lr, "batch_size": cfg.batch_size} | (options or {}))
    train_cfg = TrainConfig.of(method, weight_decay=cfg.weight_decay, warmup_frac=0.05, seed=cfg.seed)
    return train(model, method, data, train_cfg, model.trainable_parameters(embeddings=embeddings), on_step=on_step)
