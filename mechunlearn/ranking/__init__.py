"""Ranking methods, registered by name.

Neurons: ``probe``, ``probeless``, ``attribution``. SAE features: ``sae-activation``,
``sae-attribution``,
``sae-probe``. Add a method as one file with a config dataclass and a function decorated
with ``@register_ranker(name, ConfigClass)`` (or ``@register_feature_ranker``), and import it here.
"""

from mechunlearn.ranking import (  # noqa: F401  (registration)
    attribution,
    probe,
    probeless,
    sae_activation,
    sae_attribution,
    sae_probe,
)
from mechunlearn.ranking.base import FEATURE_RANKERS, RANKERS, Neuron, Ranking, register_ranker
from mechunlearn.ranking.store import rank

__all__ = ["FEATURE_RANKERS", "RANKERS", "Neuron", "Ranking", "rank", "register_ranker"]
