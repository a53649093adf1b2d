"""One small training loop over pre-built batches, with the loss as a function argument.

Two things train in it: the bundled model (:mod:`mechunlearn.bundled.train`, next-token loss)
and ``clamp --bake``'s distillation (:mod:`mechunlearn.training.distill`, KL to the clamped model).
Retraining (``prune --retrain``, :mod:`mechunlearn.training.retrain`) and gradient unlearning run in
:mod:`mechunlearn.training.loop` instead; retraining takes only :class:`TrainStats` from here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mechunlearn.training.loop import warmup_cosine


@dataclass
class Batch:
    input_ids: torch.Tensor  # [batch, pos]
    attention_mask: torch.Tensor  # [batch, pos], 1 on real tokens


def length_bucketed_batches(
    seqs: Sequence[Sequence[int]], batch_size: int, pad_id: int, seed: int, device: torch.device | str = "cpu"
) -> list[Batch]:
    """Group token sequences of similar length into right-padded batches (order shuffled)."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    batches = []
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        width = max(len(seqs[j]) for j in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, j in enumerate(idx):
            ids[r, : len(seqs[j])] = torch.tensor(seqs[j])
            mask[r, : len(seqs[j])] = 1
        batches.append(Batch(ids.to(device), mask.to(device)))
    random.Random(seed).shuffle(batches)
    return batches


def next_token_loss(logits: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy of each real token given its prefix (padding ignored)."""
    tgt = batch.input_ids[:, 1:].masked_fill(batch.attention_mask[:, 1:] == 0, -100)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), tgt.reshape(-1), ignore_index=-100)


@dataclass
class TrainStats:
    steps: int
    first_loss: float
    last_loss: float


def train(
    params: Iterable[torch.nn.Parameter],
    batches: Sequence[Batch],
    loss_fn: Callable[[Batch], torch.Tensor],
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 0.0,
    warmup_frac: float = 0.05,
    grad_clip: float = 1.0,
    seed: int = 0,
    desc: str = "train",
    after_step: Callable[[], None] | None = None,
) -> TrainStats:
    """AdamW with linear warm-up and cosine decay over ``epochs`` passes of ``batches``.

    ``after_step`` runs after each optimiser step (e.g. to keep pruned weights at zero).
    """
    params = [p for p in params if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    total = max(1, epochs * len(batches))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(total, warmup_frac))
    rng = random.Random(seed)
    first = last = float("nan")
    step = 0
    with tqdm(total=total, desc=desc, unit="step") as bar:
        for _ in range(epochs):
            order = list(range(len(batches)))
            rng.shuffle(order)
            for i in order:
                loss = loss_fn(batches[i])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
                opt.step()
                sched.step()
                if after_step is not None:
                    after_step()
                last = loss.item()
                first = last if step == 0 else first
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{last:.3f}")
    return TrainStats(step, first, last)
