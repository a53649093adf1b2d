"""The model's own concept corpus (``mechunlearn synth``): passages, questions, guardrailed answers,
and the keep side, sampled from the model (RWKU's zero-shot setting)."""

from mechunlearn.synth.corpus import SynthConfig, synth_corpus
from mechunlearn.synth.folder import synth_folder

__all__ = ["SynthConfig", "synth_corpus", "synth_folder"]
