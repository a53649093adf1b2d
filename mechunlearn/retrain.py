"""Retrain an edited model on filtered data with its edits kept in force (prune, then retrain).

The forward pass goes through the hooked model, so ablated neurons stay ablated while the
remaining weights adapt; afterwards the edits are baked as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mechunlearn.concepts import Concept
from mechunlearn.models.hooked import HookedLM
from mechunlearn.training import TrainStats, length_bucketed_batches, next_token_loss, train


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


def retrain(model: HookedLM, texts: Sequence[str], cfg: RetrainConfig) -> TrainStats:
    """Fine-tune all weights on ``texts`` by next-token prediction through the hooked model."""
    seqs = [model.encode(t)[: model.n_ctx] for t in texts]
    pad = model.tokenizer.pad_token_id or 0
    batches = length_bucketed_batches(seqs, cfg.batch_size, pad, cfg.seed, model.device)
    model.hf_model.train()
    try:
        return train(
            model.trainable_parameters(),
            batches,
            lambda b: next_token_loss(model.logits(b.input_ids, b.attention_mask), b),
            epochs=cfg.epochs,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            seed=cfg.seed,
            desc="retrain",
        )
    finally:
        model.hf_model.eval()
