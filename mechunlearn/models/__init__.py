"""Model loading, the hooked-model wrapper, and per-architecture neuron layouts."""

from mechunlearn.models.arch import ArchSpec, arch_spec
from mechunlearn.models.hooked import HookedLM
from mechunlearn.models.loading import load_model, resolve_model

__all__ = ["ArchSpec", "HookedLM", "arch_spec", "load_model", "resolve_model"]
