"""A document classifier for a concept: the NeuroX concept probe read over whole texts.

A keyword list misses text about a concept that names none of its keywords (a passage on
the Sorting Hat, on Umbridge's pink office). The classifier asks the model instead: each
window of up to ``window`` tokens is run through it, every MLP neuron's activation is
averaged over the window, and a NeuroX logistic-regression probe trained on the concept's
probing sentences (``concept.txt`` = 1, ``other.txt`` = 0, one pooled vector per sentence)
gives P(concept). A text's probability is that of its most concept-like window.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mechunlearn.activations.caching import MeanByLabel, run_and_cache
from mechunlearn.concepts.folders import Concept
from mechunlearn.concepts.labels import IGNORE, LabelledText
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models.hooked import HookedLM
from mechunlearn.ranking.probe import FittedProbe, ProbeConfig, fit_probe

log = logging.getLogger(__name__)


@dataclass
class ClassifierConfig:
    """Args:
    threshold: a text is the concept's when its P(concept) is at least this (0 < t < 1).
    window: tokens per pooled window (long texts are cut into windows; the maximum counts).
    batch_size: windows per forward pass.
    probe: the NeuroX probe's training settings (``max_tokens`` caps training sentences).
        Pure L2 (0, 1.0) was chosen over the token probe's elastic net (1e-3, 1e-3) and
        L2 in 1e-3..1 on the train split of the forget/retain corpora (never trained on):
        keyword-free concept passages caught minus retain passages caught, summed over
        gemma-3-270m (20/24 vs 1/219 at L2 1.0, 8/24 vs 0/219 at the elastic net) and the
        bundled model (13/24 vs 22/219; 12/24 vs 46/219). bench/RESULTS.md has the test split.
    """

    threshold: float = 0.5
    window: int = 64
    batch_size: int = 16
    probe: ProbeConfig = field(default_factory=lambda: ProbeConfig(lambda_l1=0.0, lambda_l2=1.0))

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise MechUnlearnError(f"threshold {self.threshold} is not a probability strictly between 0 and 1")
        if self.window < 1:
            raise MechUnlearnError(f"window {self.window} must be at least 1 token")


def windows(model: HookedLM, texts: Sequence[str], size: int) -> tuple[list[LabelledText], np.ndarray]:
    """Windows of at most ``size`` tokens (the tokenizer's BOS first), each labelled with its own
    index on every text token; returns them and the text each came from."""
    prefix = model.special_prefix()
    body = max(1, min(size, model.n_ctx - len(prefix)))
    items, owner = [], []
    for t, text in enumerate(texts):
        ids = model.encode(text, prepend_bos=False) or model.encode(" ", prepend_bos=False)
        for start in range(0, len(ids), body):
            chunk = ids[start : start + body]
            items.append(LabelledText(prefix + chunk, [IGNORE] * len(prefix) + [len(items)] * len(chunk)))
            owner.append(t)
    return items, np.array(owner, dtype=np.int64)


def pooled_activations(
    model: HookedLM, texts: Sequence[str], cfg: ClassifierConfig, *, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``(x [windows, n_layers * d_mlp], owner [windows])``: mean MLP activations per window."""
    items, owner = windows(model, texts, cfg.window)
    hooks = [model.mlp_hook(layer) for layer in range(model.n_layers)]
    sink = MeanByLabel(len(items))
    run_and_cache(model, items, hooks, [sink], batch_size=cfg.batch_size, progress=progress, desc="pooling activations")
    return sink.matrix(hooks), owner


class ConceptClassifier:
    """P(concept) for texts, from a NeuroX probe on the model's pooled MLP activations."""

    def __init__(self, model: HookedLM, fitted: FittedProbe, cfg: ClassifierConfig) -> None:
        self.model, self.fitted, self.cfg = model, fitted, cfg

    @classmethod
    def train(cls, model: HookedLM, concept: Concept, cfg: ClassifierConfig | None = None) -> ConceptClassifier:
        """Fit the probe on the concept's probing sentences (concept vs other), one row per window."""
        cfg = cfg or ClassifierConfig()
        pos, neg = concept.concept_sentences, concept.other_sentences
        x, owner = pooled_activations(model, list(pos) + list(neg), cfg)
        y = (owner < len(pos)).astype(np.int64)
        fitted = fit_probe(x, y, cfg.probe)
        fitted.metrics |= {"sentences": {"concept": len(pos), "other": len(neg)}}
        log.info("document probe: %s", fitted.metrics)
        return cls(model, fitted, cfg)

    def probability(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """P(concept) of each text: the highest of its windows'."""
        if not texts:
            return np.zeros(0)
        x, owner = pooled_activations(self.model, texts, self.cfg, progress=progress)
        p = self.fitted.concept_probability(x)
        out = np.zeros(len(texts))
        np.maximum.at(out, owner, p)
        return out

    def is_concept(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        return self.probability(texts, progress=progress) >= self.cfg.threshold
