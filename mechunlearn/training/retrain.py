"""Retrain an edited model on filtered data with its edits kept in force (prune, then retrain).

``prune --retrain`` runs the ``sft`` unlearning method (next-token loss on concept-free text)
in the shared unlearning loop (:mod:`mechunlearn.training.loop`): the forward pass goes
through the hooked model, so ablated neurons stay ablated while the remaining weights adapt;
afterwards the edits are baked as before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from mechunlearn.concepts.folders import Concept
from mechunlearn.models.hooked import HookedLM
from mechunlearn.training.loop import TrainResult


@dataclass
class RetrainConfig:
    """Args:
    epochs: passes over the filtered retain data.
    lr: AdamW learning rate.
    batch_size: sequences per step.
    weight_decay: AdamW weight decay.
    seed: batch order.
    """

    epochs: int = 2
    lr: float = 3e-4
    batch_size: int = 16
    weight_decay: float = 0.0
    seed: int = 0


def filtered_retain_texts(concept: Concept) -> list[str]:
    """Training text with no mention of the concept: retain passages and non-concept sentences."""
    texts = concept.retain_split()[0] + concept.other_sentences
    return [t for t in texts if not concept.mentions(t)]


def retrain(model: HookedLM, texts: Sequence[str], cfg: RetrainConfig) -> TrainResult:
    """Fine-tune all weights on ``texts`` by next-token prediction through the hooked model (``sft``)."""
    from mechunlearn.training.data import UnlearnData
    from mechunlearn.training.loop import TrainConfig, train
    from mechunlearn.unlearning import make_method

    steps = max(1, cfg.epochs * math.ceil(len(texts) / cfg.batch_size))
    method = make_method("sft", {"steps": steps, "lr": cfg.lr, "batch_size": cfg.batch_size})
    data = UnlearnData(model, [], list(texts), max_len=model.n_ctx, seed=cfg.seed)
    return train(
        model,
        method,
        data,
        TrainConfig.of(method, weight_decay=cfg.weight_decay, warmup_frac=0.05, seed=cfg.seed),
        model.trainable_parameters(),
    )
