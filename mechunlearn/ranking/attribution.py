"""``attribution``: activation x gradient of the log-probability of the concept's answers.

Attribution patching (Nanda, 2023; Syed et al., 2023): the first-order estimate of how much
zero-ablating a neuron lowers ``log p(answer | prompt)`` is ``act * d log p / d act``,
summed over positions, averaged over the (known, train-split) forget facts: ``F``; the
same over the retain facts: ``R``; and ``T``, the mean over retain-corpus passages of
``sum_pos |act * grad|`` of the passage's log-likelihood (how much ordinary text needs the
unit). ``score="ratio"`` (default) ranks by ``max(F, 0) / (|R|/mean|R| + T/mean T + 1)``:
selective pruning's forget/retain importance ratio (Pochinkov & Schoots 2024) in
attribution space. A neuron ranks high only if the concept's answers need it far more than
retain answers and retain text do, whichever way it moves them, so the units everything
leans on (massive activations, attention sinks, neurons every token uses) rank last. ``score="difference"``
is ``F - retain_weight * R`` (the earlier default, tuned on the bundled model). ``forget_from``
says what ``F`` is taken on: the forget facts' answers (``facts``), the model's own passages about
the concept (``synth``: ``mechunlearn synth``'s corpus, ``sum_pos unit * grad`` of each passage's
log-likelihood — what the model's own concept text needs, beyond the project's hand-written
facts), or ``both`` (each scaled by its mean magnitude, then added). Gradients
reach each neuron through everything downstream: the hook adds a zero tensor that requires
grad instead of detaching the activation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch

from mechunlearn.concepts.folders import Concept, Fact
from mechunlearn.core.config_types import check_choices
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models.hooked import HookedLM
from mechunlearn.models.logprobs import next_token_logprobs
from mechunlearn.ranking.base import Ranking, register_ranker
from mechunlearn.synth.folder import synth_data


@dataclass
class AttributionConfig:
    """Args:
    batch_size: facts per forward/backward pass.
    score: ``ratio`` (forget/retain importance ratio) or ``difference``.
    retain_texts: retain corpus passages (train split) whose needs ``ratio`` also protects.
    retain_weight: with ``difference``, weight of the retain facts' attribution subtracted.
    forget_from: ``facts``, ``synth`` or ``both``: what the forget side's attribution is taken on.
    synth_passages: with ``synth`` / ``both``, how many of the synthetic corpus' passages (its first).
    """

    def __post_init__(self) -> None:
        check_choices(self, "attribution option")

    reads_facts: ClassVar[bool] = True  # stored rankings are keyed by the known subset too

    batch_size: int = 16
    score: Literal["ratio", "difference"] = "ratio"
    retain_texts: int = 48
    retain_weight: float = 1.0
    forget_from: Literal["facts", "synth", "both"] = "facts"
    synth_passages: int = 256


@dataclass
class Site:
    """Where attribution is taken: units read from the activation at ``hook``.

    ``units(act)`` gives the units (``act`` itself for MLP neurons, SAE features for an SAE);
    ``inject(act, units, delta)`` returns the activation with the units moved by ``delta``.
    """

    hook: str
    units: Callable[[torch.Tensor], torch.Tensor] = lambda act: act
    inject: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] = lambda act, u, d: act + d


def _attribution(
    model: HookedLM,
    seqs: list[list[int]],
    targets: list[list[int]],
    batch_size: int,
    sites: list[Site] | None,
    absolute: bool,
) -> np.ndarray:
    """Mean over ``seqs`` of ``sum_pos unit * grad`` of the log-probability of the tokens at ``targets``.

    ``targets[i]`` lists positions of ``seqs[i]`` whose token is scored. ``absolute`` sums
    ``|unit * grad|`` over positions (importance whichever way a unit moves the text) instead
    of the signed sum. Returns ``[n_sites, d]``; ``sites`` default to every layer's MLP neurons.
    """
    sites = sites or [Site(model.mlp_hook(layer)) for layer in range(model.n_layers)]
    total: torch.Tensor | None = None
    for i in range(0, len(seqs), batch_size):
        ids, mask = model.pad(seqs[i : i + batch_size])
        target = torch.zeros_like(ids, dtype=torch.bool)  # positions whose *next* token is scored
        for r, pos in enumerate(targets[i : i + batch_size]):
            target[r, [p - 1 for p in pos]] = True
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
            logp = next_token_logprobs(logits, ids)
            logp[target[:, :-1]].sum().backward()
        real = mask.bool()[..., None]
        parts = [acts[j] * deltas[j].grad * real for j in range(len(sites))]
        contrib = torch.stack([(x.abs() if absolute else x).sum((0, 1)) for x in parts])
        total = contrib.double().cpu() if total is None else total + contrib.double().cpu()
    if total is None:
        raise MechUnlearnError("attribution needs at least one fact or text; the concept gave none")
    return (total / len(seqs)).numpy()


def fact_attribution(
    model: HookedLM, facts: list[Fact], batch_size: int, sites: list[Site] | None = None
) -> np.ndarray:
    """Mean over ``facts`` of ``sum_pos unit * grad`` of the answer's log-probability, ``[n_sites, d]``."""
    seqs, targets = [], []
    for f in facts:
        prompt, answer = model.encode(f.prompt), model.encode_continuation(f.answer)
        seqs.append(prompt + answer)
        targets.append(list(range(len(prompt), len(prompt) + len(answer))))
    return _attribution(model, seqs, targets, batch_size, sites, absolute=False)


def text_attribution(
    model: HookedLM,
    texts: list[str],
    batch_size: int,
    sites: list[Site] | None = None,
    max_tokens: int = 128,
    absolute: bool = True,
) -> np.ndarray:
    """Mean over ``texts`` of ``sum_pos |unit * grad|`` of the text's log-likelihood: how much the text needs
    a unit (``absolute=False``: the signed sum, how much the unit helps the text)."""
    seqs = [model.encode(t)[:max_tokens] for t in texts]
    head = len(model.special_prefix())
    targets = [list(range(max(head, 1), len(s))) for s in seqs]
    return _attribution(model, seqs, targets, batch_size, sites, absolute=absolute)


def synth_passages(model: HookedLM, concept: Concept, n: int) -> list[str]:
    """The first ``n`` passages of the model's synthetic corpus of the concept (``mechunlearn synth``)."""
    from mechunlearn.training.data import read_data_file

    return [str(t) for t in read_data_file(synth_data(model, concept, "forget"))[:n]]


def forget_attribution(
    model: HookedLM, concept: Concept, cfg: AttributionConfig, sites: list[Site] | None
) -> tuple[np.ndarray, dict]:
    """``F`` per ``cfg.forget_from`` and what it was computed from."""
    parts, info = [], {}
    if cfg.forget_from in ("facts", "both"):
        facts = concept.training_facts("forget", concept.known)
        parts.append(fact_attribution(model, facts, cfg.batch_size, sites))
        info["forget_facts"] = len(facts)
    if cfg.forget_from in ("synth", "both"):
        texts = synth_passages(model, concept, cfg.synth_passages)
        parts.append(text_attribution(model, texts, cfg.batch_size, sites, absolute=False))
        info["synth_passages"] = len(texts)
    if len(parts) == 1:
        return parts[0], info
    return sum(p / max(np.abs(p).mean(), 1e-12) for p in parts), info


def attribution_scores(
    model: HookedLM, concept: Concept, cfg: AttributionConfig, sites: list[Site] | None = None
) -> tuple[np.ndarray, dict]:
    """Scores ``[n_sites, d]`` per ``cfg.score`` (see the module docstring) and what they were computed from."""
    forget, info = forget_attribution(model, concept, cfg, sites)
    retain_facts = concept.training_facts("retain", concept.known)
    retain = fact_attribution(model, retain_facts, cfg.batch_size, sites)
    info["retain_facts"] = len(retain_facts)
    if cfg.score == "difference":
        return forget - cfg.retain_weight * retain, info
    texts = concept.retain_split()[0][: cfg.retain_texts]
    text = text_attribution(model, texts, cfg.batch_size, sites)
    need = np.abs(retain) / max(np.abs(retain).mean(), 1e-12) + text / max(text.mean(), 1e-12)
    return np.maximum(forget, 0) / (need + 1), info | {"retain_texts": len(texts)}


@register_ranker("attribution", AttributionConfig)
def rank_attribution(model: HookedLM, concept: Concept, cfg: AttributionConfig) -> Ranking:
    """Rank neurons by how much the forget facts' answers need them and retain facts and text do not."""
    scores, info = attribution_scores(model, concept, cfg)
    return Ranking(
        method="attribution",
        scores=scores,
        order=Ranking.order_from_scores(scores),
        model={},
        concept=concept.name,
        metrics=info,
    )
