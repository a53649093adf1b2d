"""End-to-end jobs behind the CLI commands, one function each."""

from mechunlearn.pipeline.config import PruneConfig
from mechunlearn.pipeline.prune import prune
from mechunlearn.pipeline.unlearn import unlearn
from mechunlearn.pipeline.unlearn_config import UnlearnConfig

__all__ = ["PruneConfig", "UnlearnConfig", "prune", "unlearn"]
