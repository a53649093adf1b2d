"""``sae-attribution``: SAE features by their attributed effect on the concept's answers.

The neuron ``attribution`` method applied to SAE features: at the SAE's hook the activation
``x`` becomes ``x + decode(f + delta) - decode(f)`` with ``f = encode(x)`` and a zero
``delta`` that requires grad, so ``f * d log p(answer) / d delta`` estimates what zeroing
each feature costs the answer. Forget facts minus ``retain_weight`` x retain facts; features
firing on more than ``max_retain_freq`` of retain-text tokens are ranked after all others.
"""

from __future__ import annotations

from dataclasses import dataclass

from mechunlearn.concepts.folders import Concept
from mechunlearn.models.hooked import HookedLM
from mechunlearn.ranking.attribution import AttributionConfig, Site, attribution_scores
from mechunlearn.ranking.base import Ranking, register_feature_ranker
from mechunlearn.ranking.sae_data import retain_firing_rate, sparse_first
from mechunlearn.saes.loading import sae_hook


@dataclass
class SAEAttributionConfig(AttributionConfig):
    """Args (besides those of :class:`AttributionConfig`, scored the same way over SAE features):
    max_retain_freq: features firing on more than this fraction of retain-text tokens are
        ranked last; 1.0 disables.
    """

    max_retain_freq: float = 0.02


def sae_site(sae) -> Site:
    def units(act):
        return sae.encode(act.to(sae.dtype))

    def inject(act, f, delta):
        return act + (sae.decode(f + delta) - sae.decode(f)).to(act.dtype)

    return Site(sae_hook(sae), units, inject)


@register_feature_ranker("sae-attribution", SAEAttributionConfig)
def rank_sae_attribution(model: HookedLM, sae, concept: Concept, cfg: SAEAttributionConfig) -> Ranking:
    scores, info = attribution_scores(model, concept, cfg, [sae_site(sae)])
    order, n_dense = sparse_first(scores, retain_firing_rate(model, sae, concept), cfg.max_retain_freq)
    return Ranking(
        method="sae-attribution",
        scores=scores,
        order=order,
        model={},
        concept=concept.name,
        unit="sae_feature",
        metrics=info | {"dense_features_ranked_last": n_dense},
    )
