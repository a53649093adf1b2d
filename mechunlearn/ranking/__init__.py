"""Neuron ranking methods, registered by name: ``probe``, ``probeless``, ``attribution``.

Add a method as one file with a config dataclass and a function decorated with
``@register_ranker(name, ConfigClass)``, and import it here.
"""

from mechunlearn.ranking import attribution, probe, probeless  # noqa: F401  (registration)
from mechunlearn.ranking.base import RANKERS, Neuron, Ranking, get_ranker, register_ranker
from mechunlearn.ranking.store import rank

__all__ = ["RANKERS", "Neuron", "Ranking", "get_ranker", "rank", "register_ranker"]
