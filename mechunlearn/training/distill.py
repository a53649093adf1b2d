"""Distil an edited (hooked) model into plain weights: ``clamp --bake``.

An SAE clamp has no exact weight form, so the plain model is fine-tuned to reproduce the
clamped model's next-token distributions: the ``distill`` objective
(:mod:`mechunlearn.unlearning.methods.distill`) in the one training loop. The teacher is a frozen
copy with the clamp in force, run on each batch; the same weights, with the clamp removed, are
trained to minimise ``KL(teacher || student)`` per token on forget and retain text, in batches of
texts of similar length.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mechunlearn.models.hooked import HookedLM
from mechunlearn.training.epochs import EpochConfig
from mechunlearn.training.loop import TrainResult, train_epochs
from mechunlearn.unlearning.losses import token_kl


@dataclass
class BakeConfig(EpochConfig):
    """Args: epochs (passes over the distillation text), lr, batch_size, weight_decay, seed
    (:class:`~mechunlearn.training.epochs.EpochConfig`)."""

    epochs: int = 8
    lr: float = 1e-3


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


def distill(
    model: HookedLM, texts: Sequence[str], cfg: BakeConfig, drop_edits: tuple[str, ...] = ("sae_clamp",)
) -> TrainResult:
    """Train ``model``'s weights so that, without its edits of the kinds ``drop_edits``, it matches itself
    with them, on ``texts`` batched by length. Afterwards those edits are gone from ``model.edits``."""
    return train_epochs(model, "distill", texts, cfg, bucket=True, options={"drop_edits": list(drop_edits)})


def bake_summary(cfg: BakeConfig, stats: TrainResult) -> dict:
    """What a bake's report records: its settings, steps, tokens, KL at the first and last step, peak memory."""
    return dataclasses.asdict(cfg) | {
        "steps": stats.steps,
        "tokens": stats.tokens,
        "first_kl": stats.first_loss,
        "final_kl": stats.last_loss,
        "peak_memory_mb": stats.peak_memory_mb,
        "peak_memory_kind": stats.peak_memory_kind,
    }
