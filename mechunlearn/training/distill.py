"""Distil an edited (hooked) model into plain weights: ``clamp --bake``.

An SAE clamp has no exact weight form, so the plain model is fine-tuned to reproduce the
clamped model's next-token distributions: the teacher's log-probabilities are computed once
with the clamp in force, then the same weights, with the clamp removed, are trained to
minimise ``KL(teacher || student)`` per token on forget and retain text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mechunlearn.models.hooked import HookedLM
from mechunlearn.training.simple import Batch, TrainStats, length_bucketed_batches, train
from mechunlearn.unlearning.losses import token_kl


@dataclass
class DistillConfig:
    """Args:
    epochs: passes over the distillation text.
    lr: AdamW learning rate.
    batch_size: sequences per step.
    seed: batch order.
    """

    epochs: int = 8
    lr: float = 1e-3
    batch_size: int = 16
    seed: int = 0


@torch.no_grad()
def kl_between(teacher: HookedLM, student_edits: list, texts: Sequence[str], batch_size: int = 16) -> float:
    """Per-token ``KL(teacher with its edits || same weights with student_edits)`` on ``texts``."""
    total, n = 0.0, 0
    saved = teacher.edits
    for i in range(0, len(texts), batch_size):
        ids, mask = teacher.pad([teacher.encode(t)[: teacher.n_ctx] for t in texts[i : i + batch_size]])
        t_logp = torch.log_softmax(teacher.logits(ids, mask).float(), -1)
        teacher.edits = student_edits
        try:
            s_logits = teacher.logits(ids, mask)
        finally:
            teacher.edits = saved
        m = mask.bool()
        k = token_kl(t_logp, s_logits)
        total += float(k[m].sum())
        n += int(m.sum())
    return total / max(n, 1)


def distill(model: HookedLM, remove: Sequence, texts: Sequence[str], cfg: DistillConfig) -> TrainStats:
    """Train ``model``'s weights so that, without the edits in ``remove``, it matches itself with them.

    Teacher log-probabilities are computed first (held on CPU in float16), so the teacher does
    not drift as the weights change. Afterwards ``remove`` is gone from ``model.edits``.
    """
    seqs = [model.encode(t)[: model.n_ctx] for t in texts]
    pad = model.tokenizer.pad_token_id or 0
    batches = length_bucketed_batches(seqs, cfg.batch_size, pad, cfg.seed, model.device)
    teacher: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for b in batches:
            teacher[id(b)] = torch.log_softmax(model.logits(b.input_ids, b.attention_mask).float(), -1).half().cpu()
    model.edits = [e for e in model.edits if not any(e is r for r in remove)]

    def loss(b: Batch) -> torch.Tensor:
        logits = model.logits(b.input_ids, b.attention_mask)
        return token_kl(teacher[id(b)].to(logits.device), logits)[b.attention_mask.bool()].mean()

    model.hf_model.train()
    try:
        return train(
            model.trainable_parameters(), batches, loss, epochs=cfg.epochs, lr=cfg.lr, seed=cfg.seed, desc="distil"
        )
    finally:
        model.hf_model.eval()
