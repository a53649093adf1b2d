"""``probeless``: NeuroX's probeless ranking (Antverg & Belinkov, 2022), streamed.

For two classes NeuroX scores a neuron by ``|mean(concept) - mean(other)|`` of its
activation. Here the class means come from streamed statistics, so any corpus size fits in
memory; a test checks the order equals ``neurox.interpretation.probeless``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mechunlearn.activations.caching import neuron_stats
from mechunlearn.concepts.folders import Concept
from mechunlearn.models.hooked import HookedLM
from mechunlearn.ranking.base import Ranking, register_ranker
from mechunlearn.ranking.data import probing_items


@dataclass
class ProbelessConfig:
    """Args:
    batch_size: sentences per forward pass while caching.
    """

    batch_size: int = 32


@register_ranker("probeless", ProbelessConfig)
def rank_probeless(model: HookedLM, concept: Concept, cfg: ProbelessConfig) -> Ranking:
    """Rank neurons by the absolute difference of class-conditional mean activations."""
    stats = neuron_stats(model, probing_items(model, concept), batch_size=cfg.batch_size)
    scores = np.abs(stats.mean(1) - stats.mean(0))
    return Ranking(
        method="probeless",
        scores=scores,
        order=Ranking.order_from_scores(scores),
        model={},
        concept=concept.name,
        metrics={"concept_tokens": int(stats.count[1]), "other_tokens": int(stats.count[0])},
    )
