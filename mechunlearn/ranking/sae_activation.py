"""``sae-activation``: SAE features that fire more on concept tokens than on other tokens.

Scores are the difference between concept and other tokens of either the firing frequency
(fraction of tokens where the feature is active, ``by="freq"``) or the mean activation
(``by="mean"``). Features that fire on more than ``max_retain_freq`` of the tokens of text
without the concept are ranked after all others. Both figures are stored per feature with
the ranking (``features.json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from mechunlearn.concepts.folders import Concept
from mechunlearn.core.config_types import check_choices
from mechunlearn.models.hooked import HookedLM
from mechunlearn.ranking.base import Ranking, register_feature_ranker
from mechunlearn.ranking.data import probing_items
from mechunlearn.ranking.sae_data import feature_stats, retain_firing_rate, sparse_first


@dataclass
class SAEActivationConfig:
    """Args:
    by: ``freq`` (firing frequency difference) or ``mean`` (mean activation difference).
    max_retain_freq: features firing on more than this fraction of retain-text tokens are
        ranked last (dense features are not concept-specific); 1.0 disables.
    batch_size: sentences per forward pass.
    """

    by: Literal["freq", "mean"] = "freq"
    max_retain_freq: float = 0.02
    batch_size: int = 32

    def __post_init__(self) -> None:
        check_choices(self, "sae-activation option")


@register_feature_ranker("sae-activation", SAEActivationConfig)
def rank_sae_activation(model: HookedLM, sae, concept: Concept, cfg: SAEActivationConfig) -> Ranking:
    stats = feature_stats(model, sae, probing_items(model, concept), cfg.batch_size)
    f = stats.freq if cfg.by == "freq" else stats.mean
    scores = (f(1) - f(0)).astype(np.float32)  # [1, d_sae]
    order, n_dense = sparse_first(scores, retain_firing_rate(model, sae, concept), cfg.max_retain_freq)
    return Ranking(
        method="sae-activation",
        scores=scores,
        order=order,
        model={},
        concept=concept.name,
        unit="sae_feature",
        metrics={
            "concept_tokens": int(stats.count[1]),
            "other_tokens": int(stats.count[0]),
            "by": cfg.by,
            "dense_features_ranked_last": n_dense,
        },
    )
