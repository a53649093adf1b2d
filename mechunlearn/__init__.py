"""mechunlearn: find where a concept lives in a language model (neurons, SAE features) and remove it there.

The public API a notebook uses, in one place (each name is imported on first use, so
``import mechunlearn`` stays light and the command line starts without torch)::

    import mechunlearn as mu

    model = mu.load_model()                       # the bundled model; a folder, .gguf, real model name or hub id
    concept = mu.load_concept("harry_potter")
    ranking, path = mu.rank(model, concept, "probe")   # neurons, best first, and where it is stored
    result = mu.prune(mu.PruneConfig(concept="harry_potter"))     # the ``prune`` command as a function
    result = mu.clamp(mu.ClampConfig(concept="harry_potter"))
    result = mu.unlearn(mu.UnlearnConfig(concept="harry_potter"))
    edited = mu.load_run("runs/prune-...")        # an output folder, its edits re-applied
    metrics = mu.evaluate(edited, concept)        # what ``mechunlearn evaluate`` prints

Registries (name -> implementation): ``METHODS`` (unlearning methods), ``RANKERS`` (neuron
rankings), ``FEATURE_RANKERS`` (SAE feature rankings), ``EDITS`` (edit types).
See ``docs/architecture.md`` for the subpackages and how data flows between them.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("mechunlearn")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

_API: dict[str, str] = {
    "load_model": "mechunlearn.models.loading",
    "HookedLM": "mechunlearn.models.hooked",
    "load_concept": "mechunlearn.concepts.folders",
    "load_run": "mechunlearn.edits.stack",
    "rank": "mechunlearn.ranking.store",
    "prune": "mechunlearn.pipeline.prune",
    "PruneConfig": "mechunlearn.pipeline.config",
    "clamp": "mechunlearn.pipeline.clamp",
    "ClampConfig": "mechunlearn.pipeline.config",
    "unlearn": "mechunlearn.pipeline.unlearn",
    "UnlearnConfig": "mechunlearn.pipeline.unlearn_config",
    "evaluate": "mechunlearn.evaluation.report",
    "METHODS": "mechunlearn.unlearning",
    "RANKERS": "mechunlearn.ranking",
    "FEATURE_RANKERS": "mechunlearn.ranking.base",
    "EDITS": "mechunlearn.edits",
    "MechUnlearnError": "mechunlearn.core.errors",
}

__all__ = [
    "__version__",
    "load_model",
    "HookedLM",
    "load_concept",
    "load_run",
    "rank",
    "prune",
    "PruneConfig",
    "clamp",
    "ClampConfig",
    "unlearn",
    "UnlearnConfig",
    "evaluate",
    "METHODS",
    "RANKERS",
    "FEATURE_RANKERS",
    "EDITS",
    "MechUnlearnError",
]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mechunlearn' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from mechunlearn.concepts.folders import load_concept
    from mechunlearn.core.errors import MechUnlearnError
    from mechunlearn.edits import EDITS
    from mechunlearn.edits.stack import load_run
    from mechunlearn.evaluation.report import evaluate
    from mechunlearn.models.hooked import HookedLM
    from mechunlearn.models.loading import load_model
    from mechunlearn.pipeline.clamp import clamp
    from mechunlearn.pipeline.config import ClampConfig, PruneConfig
    from mechunlearn.pipeline.prune import prune
    from mechunlearn.pipeline.unlearn import unlearn
    from mechunlearn.pipeline.unlearn_config import UnlearnConfig
    from mechunlearn.ranking import RANKERS
    from mechunlearn.ranking.base import FEATURE_RANKERS
    from mechunlearn.ranking.store import rank
    from mechunlearn.unlearning import METHODS
