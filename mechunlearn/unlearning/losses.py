"""Loss pieces the methods share, all masked by a batch's ``loss_mask`` (padding never counts)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mechunlearn.models.logprobs import next_token_logprobs
from mechunlearn.unlearning.base import Outputs


def target_logprobs(out: Outputs) -> tuple[torch.Tensor, torch.Tensor]:
    """``log p(token_t | tokens_<t)`` for t >= 1, ``[b, t-1]``, and the mask of the targets that count."""
    lp = next_token_logprobs(out.logits, out.batch.input_ids)
    return lp, out.batch.loss_mask[:, 1:].to(lp.dtype)


def nll(out: Outputs) -> torch.Tensor:
    """Mean next-token negative log-likelihood over the target tokens (the usual LM loss)."""
    lp, m = target_logprobs(out)
    return -(lp * m).sum() / m.sum().clamp(min=1)


def sequence_nll(out: Outputs, *, mean: bool = False) -> torch.Tensor:
    """Per-row negative log-likelihood ``[b]``: summed over target tokens, or their mean (``mean=True``)."""
    lp, m = target_logprobs(out)
    total = -(lp * m).sum(-1)
    return total / m.sum(-1).clamp(min=1) if mean else total


def token_kl(teacher_logp: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """``KL(teacher || student)`` of the next-token distributions at every position ``[b, t]`` (nats),
    from the teacher's log-probabilities and the student's logits (the one KL of the library)."""
    student_logp = F.log_softmax(student_logits.float(), -1)
    return F.kl_div(student_logp, teacher_logp.float(), log_target=True, reduction="none").sum(-1)


def kl_to(reference_logits: torch.Tensor, out: Outputs) -> torch.Tensor:
    """Mean over target positions of KL(reference || current) of the next-token distributions."""
    kl = token_kl(F.log_softmax(reference_logits[:, :-1].float(), -1), out.logits[:, :-1])
    m = out.batch.loss_mask[:, 1:].to(kl.dtype)
    return (kl * m).sum() / m.sum().clamp(min=1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` ``[b, t, ...]`` over the positions where ``mask`` ``[b, t]`` is 1."""
    m = mask.to(x.dtype)
    while m.dim() < x.dim():
        m = m.unsqueeze(-1)
    return (x * m).sum() / (m.sum() * (x[0, 0].numel() if x.dim() > 2 else 1)).clamp(min=1)


def retain_term(kind: str, step) -> torch.Tensor:
    """The retain loss open-unlearning's methods take: ``nll`` on retain data or ``kl`` to the frozen model."""
    if kind == "nll":
        return nll(step.retain)
    if kind == "kl":
        return kl_to(step.ctx.reference_logits(step.retain.batch), step.retain)
    raise ValueError(f"retain loss must be 'nll' or 'kl', got '{kind}'")
