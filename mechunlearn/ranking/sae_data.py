"""SAE feature activations on a concept's probing sentences, and each feature's top contexts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mechunlearn.activations.caching import InMemory, NeuronStats, Sink, run_and_cache
from mechunlearn.concepts.folders import Concept
from mechunlearn.concepts.labels import LabelledText, label_texts
from mechunlearn.models.hooked import HookedLM
from mechunlearn.saes.loading import sae_hook


@dataclass
class Encoded(Sink):
    """A sink that encodes activations with ``sae`` before passing them on to ``inner`` sinks."""

    sae: object
    inner: Sequence[Sink]

    def add(self, hook, acts, labels):
        feats = self.sae.encode(acts.to(self.sae.dtype))
        for s in self.inner:
            s.add(hook, feats, labels)

    def end_batch(self):
        for s in self.inner:
            s.end_batch()

    def close(self):
        for s in self.inner:
            s.close()


def feature_stats(model: HookedLM, sae, items: Sequence[LabelledText], batch_size: int = 32) -> NeuronStats:
    """Per-feature statistics (sum, sum of squares, firing count) split by concept label."""
    hook = sae_hook(sae)
    stats = NeuronStats([hook], int(sae.cfg.d_sae))
    run_and_cache(model, items, [hook], [Encoded(sae, [stats])], batch_size=batch_size, desc="SAE features")
    return stats


def feature_matrix(model: HookedLM, sae, items: Sequence[LabelledText]) -> tuple[np.ndarray, np.ndarray]:
    """``(X [labelled tokens, d_sae], y)`` feature activations of ``items``."""
    hook = sae_hook(sae)
    mem = InMemory()
    run_and_cache(model, items, [hook], [Encoded(sae, [mem])], desc="SAE features")
    return mem.matrix([hook])


@torch.no_grad()
def top_contexts(
    model: HookedLM, sae, concept: Concept, features: Sequence[int], n: int = 5, window: int = 10
) -> dict[int, list[dict]]:
    """For each feature, its ``n`` strongest activations on the concept's sentences, in context.

    A context is ``{"activation", "text", "token"}``: up to ``window`` tokens before the token,
    the token in ``[[...]]``, and three tokens after.
    """
    items = label_texts(concept.concept_sentences, concept.keyword_pattern, model.tokenizer, model.n_ctx)
    mem = InMemory()
    hook = sae_hook(sae)
    run_and_cache(model, items, [hook], [Encoded(sae, [mem])], progress=False)
    x, _ = mem.matrix([hook])
    where = [(i, p) for i, it in enumerate(items) for p, lab in enumerate(it.labels) if lab >= 0]
    feats = torch.from_numpy(x[:, list(features)])
    k = min(n, len(where))
    vals, idx = feats.topk(k, dim=0)
    dec = model.tokenizer.decode
    out: dict[int, list[dict]] = {}
    for j, f in enumerate(features):
        ctxs = []
        for v, t in zip(vals[:, j].tolist(), idx[:, j].tolist(), strict=True):
            if v <= 0:
                break
            i, p = where[t]
            ids = items[i].ids
            left = dec(ids[max(1, p - window) : p])
            ctxs.append(
                {
                    "activation": round(v, 4),
                    "token": dec([ids[p]]),
                    "text": f"{left}[[{dec([ids[p]])}]]{dec(ids[p + 1 : p + 4])}",
                }
            )
        out[int(f)] = ctxs
    return out


def retain_firing_rate(model: HookedLM, sae, concept: Concept, batch_size: int = 32) -> np.ndarray:
    """Fraction of tokens of the concept's retain corpus (text without the concept) each feature fires on."""
    items = label_texts(concept.retain_corpus, concept.keyword_pattern, model.tokenizer, model.n_ctx)
    stats = feature_stats(model, sae, items, batch_size)
    return (stats.active.sum(0) / max(stats.count.sum(), 1))[0]


def sparse_first(scores: np.ndarray, rate: np.ndarray, max_rate: float) -> tuple[np.ndarray, int]:
    """Order by score, features firing on more than ``max_rate`` of retain tokens last.

    Dense features (position, syntax, frequent words) score high on any concept because they
    are everywhere; clamping them breaks everything. Returns ``(order, n_dense)``.
    """
    flat = scores.reshape(-1)
    dense = rate > max_rate
    order = np.lexsort((-flat, dense))  # primary key: dense last; then by descending score
    return order.astype(np.int64), int(dense.sum())
