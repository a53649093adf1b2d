"""``attribution``: activation x gradient of the log-probability of the concept's answers.

Attribution patching (Nanda, 2023; Syed et al., 2023): the first-order estimate of how much
zero-ablating a neuron lowers ``log p(answer | prompt)`` is ``act * d log p / d act``,
summed over positions. Scores are that estimate averaged over the forget facts, minus
``retain_weight`` times the same over the retain facts, so neurons that also carry what
must be kept rank lower. Gradients reach each neuron through everything downstream: the
hook adds a zero tensor that requires grad instead of detaching the activation.
"""

from __future__ import annotations

from collections.abc import Callable
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


@dataclass
class Site:
    """Where attribution is taken: units read from the activation at ``hook``.

    ``units(act)`` gives the units (``act`` itself for MLP neurons, SAE features for an SAE);
    ``inject(act, units, delta)`` returns the activation with the units moved by ``delta``.
    """

    hook: str
    units: Callable[[torch.Tensor], torch.Tensor] = lambda act: act
    inject: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] = lambda act, u, d: act + d


def fact_attribution(
    model: HookedLM, facts: list[Fact], batch_size: int, sites: list[Site] | None = None
) -> np.ndarray:
    """Mean over ``facts`` of ``sum_pos unit * grad`` of the answer's log-probability, ``[n_sites, d]``.

    ``sites`` default to every layer's MLP neurons.
    """
    sites = sites or [Site(model.mlp_hook(layer)) for layer in range(model.n_layers)]
    total: torch.Tensor | None = None
    for i in range(0, len(facts), batch_size):
        chunk = facts[i : i + batch_size]
        prompts = [model.encode(f.prompt) for f in chunk]
        answers = [model.tokenizer(" " + f.answer, add_special_tokens=False)["input_ids"] for f in chunk]
        ids, mask = model.pad([p + a for p, a in zip(prompts, answers, strict=True)])
        target = torch.zeros_like(ids, dtype=torch.bool)  # positions whose *next* token is answer
        for r, (p, a) in enumerate(zip(prompts, answers, strict=True)):
            target[r, len(p) - 1 : len(p) + len(a) - 1] = True
        acts, deltas = {}, {}

        def make(j: int, site: Site, acts=acts, deltas=deltas):
            def fn(act, hook):
                u = site.units(act)
                d = torch.zeros_like(u, requires_grad=True)
                acts[j], deltas[j] = u.detach(), d
                return site.inject(act, u, d)

            return fn

        hooks = [(site.hook, make(j, site)) for j, site in enumerate(sites)]
        with torch.enable_grad():
            logits = model.logits(ids, mask, extra=hooks)
            logp = torch.log_softmax(logits[:, :-1].float(), -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
            logp[target[:, :-1]].sum().backward()
        real = mask.bool()[..., None]
        contrib = torch.stack([(acts[j] * deltas[j].grad * real).sum((0, 1)) for j in range(len(sites))])
        total = contrib.double().cpu() if total is None else total + contrib.double().cpu()
    assert total is not None
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
