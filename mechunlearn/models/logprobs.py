"""The one next-token log-likelihood: what every loss, perplexity and attribution score is built from."""

from __future__ import annotations

import torch


def next_token_logprobs(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``log p(ids[:, t] | ids[:, :t])`` for ``t >= 1``, ``[batch, pos - 1]`` in float32, from the
    logits ``[batch, pos, vocab]`` of ``ids`` (the logits at ``t - 1`` predict token ``t``)."""
    return torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
