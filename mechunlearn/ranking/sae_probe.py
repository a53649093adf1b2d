"""``sae-probe``: a NeuroX linear probe on SAE feature activations (concept vs other tokens).

The same probe as the neuron ``probe`` method (elastic net, balanced classes, z-scored
units), with the SAE's features as the units; features are ordered by the probe's weights.
"""

from __future__ import annotations

from mechunlearn.concepts.folders import Concept
from mechunlearn.models.hooked import HookedLM
from mechunlearn.ranking.base import Ranking, register_feature_ranker
from mechunlearn.ranking.data import probing_items
from mechunlearn.ranking.probe import ProbeConfig, train_probe
from mechunlearn.ranking.sae_data import feature_matrix


@register_feature_ranker("sae-probe", ProbeConfig)
def rank_sae_probe(model: HookedLM, sae, concept: Concept, cfg: ProbeConfig) -> Ranking:
    x, y = feature_matrix(model, sae, probing_items(model, concept))
    flat, order, metrics = train_probe(x, y, cfg)
    return Ranking(
        method="sae-probe",
        scores=flat.reshape(1, -1),
        order=order,
        model={},
        concept=concept.name,
        unit="sae_feature",
        metrics=metrics,
    )
