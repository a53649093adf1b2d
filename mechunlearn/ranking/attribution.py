"""``attribution``: activation x gradient of the log-probability of the concept's answers.

Attribution patching (Nanda, 2023; Syed et al., 2023): the first-order estimate of how much
zero-ablating a neuron lowers ``log p(answer | prompt)`` is ``act * d log p / d act``,
summed over positions. Scores are that estimate averaged over the forget facts, minus
``retain_weight`` times the same over the retain facts, so neurons that also carry what
must be kept rank lower. Gradients reach each neuron through everything downstream: the
hook adds a zero tensor that requires grad instead of detaching the activation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mechunlearn.concepts import Concept, Fact
from mechunlearn.models.hooked import HookedLM
from mechunlearn.ranking.base import Ranking, register_ranker


@dataclass
class AttributionConfig:
    """Args:
    batch_size: facts per forward/backward pass.
    retain_weight: weight of the retain facts' attribution subtracted from the forget facts'.
    """

    batch_size: int = 16
    retain_weight: float = 1.0


def fact_attribution(model: HookedLM, facts: list[Fact], batch_size: int) -> np.ndarray:
    """Mean over ``facts`` of ``sum_pos act * grad`` of the answer's log-probability, ``[n_layers, d_mlp]``."""
    total = torch.zeros(model.n_layers, model.d_mlp, dtype=torch.float64)
    for i in range(0, len(facts), batch_size):
        chunk = facts[i : i + batch_size]
        prompts = [model.encode(f.prompt) for f in chunk]
        answers = [model.tokenizer(" " + f.answer, add_special_tokens=False)["input_ids"] for f in chunk]
        ids, mask = model.pad([p + a for p, a in zip(prompts, answers, strict=True)])
        target = torch.zeros_like(ids, dtype=torch.bool)  # positions whose *next* token is answer
        for r, (p, a) in enumerate(zip(prompts, answers, strict=True)):
            target[r, len(p) - 1 : len(p) + len(a) - 1] = True
        acts, deltas = {}, {}

        def make(layer: int, acts=acts, deltas=deltas):
            def fn(act, hook):
                d = torch.zeros_like(act, requires_grad=True)
                acts[layer], deltas[layer] = act.detach(), d
                return act + d

            return fn

        hooks = [(model.mlp_hook(layer), make(layer)) for layer in range(model.n_layers)]
        with torch.enable_grad():
            logits = model.logits(ids, mask, extra=hooks)
            logp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
            logp[target[:, :-1]].sum().backward()
        real = mask.bool()[..., None]
        for layer in range(model.n_layers):
            contrib = (acts[layer] * deltas[layer].grad * real).sum((0, 1))
            total[layer] += contrib.double().cpu()
    return (total / max(len(facts), 1)).numpy()


@register_ranker("attribution", AttributionConfig)
def rank_attribution(model: HookedLM, concept: Concept, cfg: AttributionConfig) -> Ranking:
    """Rank neurons by how much they support the forget facts' answers (and not the retain facts')."""
    forget = fact_attribution(model, concept.facts_forget, cfg.batch_size)
    retain = fact_attribution(model, concept.facts_retain, cfg.batch_size) if cfg.retain_weight else 0.0
    scores = forget - cfg.retain_weight * retain
    return Ranking(
        method="attribution",
        scores=scores,
        order=Ranking.order_from_scores(scores),
        model={},
        concept=concept.name,
        metrics={"forget_facts": len(concept.facts_forget), "retain_facts": len(concept.facts_retain)},
    )
