"""End-to-end jobs behind the CLI commands, one function each."""

from mechunlearn.pipeline.config import PruneConfig
from mechunlearn.pipeline.prune import prune

__all__ = ["PruneConfig", "prune"]
