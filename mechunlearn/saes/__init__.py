"""Sparse autoencoders (sae-lens) on the hooked model: load, train, measure, rank, clamp."""

from mechunlearn.saes.loading import load_sae, sae_hook, sae_reference

__all__ = ["load_sae", "sae_hook", "sae_reference"]
