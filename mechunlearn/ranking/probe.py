"""``probe``: a NeuroX linear probe with elastic-net regularisation (Dalvi et al., 2019).

Activations of every MLP neuron on the concept's probing sentences are collected
(classes balanced with NeuroX's undersampler, capped at ``max_tokens``), z-scored per
neuron so weights are comparable across layers, and split into train / held-back parts.
NeuroX trains the probe, reports its accuracy on the held-back part, and orders neurons by
its weight mass (``get_neuron_ordering``), ties inside NeuroX's groups broken by weight.
Scores are the summed absolute class weights.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass

import numpy as np
import torch

from mechunlearn.activations.caching import InMemory, run_and_cache
from mechunlearn.concepts.folders import Concept
from mechunlearn.models.hooked import HookedLM
from mechunlearn.ranking.base import Ranking, register_ranker
from mechunlearn.ranking.data import probing_items

log = logging.getLogger(__name__)


@dataclass
class ProbeConfig:
    """Args:
    lambda_l1: L1 weight of the elastic-net penalty.
    lambda_l2: L2 weight of the elastic-net penalty.
    epochs: probe training epochs (raised if needed to reach ``min_steps``).
    min_steps: least number of optimiser steps, so that small corpora still train the
        probe well past its random initialisation (whose weights would otherwise decide
        the order).
    batch_size: probe training batch size (tokens).
    learning_rate: Adam learning rate.
    max_tokens: cap on (balanced) tokens used, to bound memory.
    heldout_frac: fraction of tokens held back to report probe accuracy.
    seed: seeds subsampling, the split and probe initialisation.
    """

    lambda_l1: float = 1e-3
    lambda_l2: float = 1e-3
    epochs: int = 30
    min_steps: int = 1500
    batch_size: int = 64
    learning_rate: float = 3e-3
    max_tokens: int = 20000
    heldout_frac: float = 0.2
    seed: int = 0


def refine_ordering(ordering, cutoffs, flat_scores: np.ndarray) -> np.ndarray:
    """NeuroX's group order, with neurons inside each weight-mass group sorted by |weight|.

    NeuroX leaves the order within a group arbitrary; neurons it never selects follow by score.
    """
    ordering = [int(i) for i in ordering]
    out, start = [], 0
    for end in list(cutoffs) + [len(ordering)]:
        group = ordering[start:end]
        out += sorted(group, key=lambda i: -flat_scores[i])
        start = max(start, end)
    seen = set(out)
    out += [int(i) for i in np.argsort(-flat_scores, kind="stable") if int(i) not in seen]
    return np.array(out, dtype=np.int64)


@contextlib.contextmanager
def quiet_stdout():
    """Capture NeuroX's prints; the last lines go to the log."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        yield
    for line in buf.getvalue().splitlines()[-3:]:
        log.info("neurox: %s", line)


@dataclass
class FittedProbe:
    """A trained NeuroX probe with the per-unit normalisation it was trained under."""

    probe: torch.nn.Module  # neurox LinearProbe: logits [n, 2] for classes (other, concept)
    mean: np.ndarray
    std: np.ndarray
    metrics: dict

    @torch.no_grad()
    def concept_probability(self, x: np.ndarray) -> np.ndarray:
        """P(concept) for each row of ``x [n, units]`` (raw activations, normalised here)."""
        dev = next(self.probe.parameters()).device
        z = torch.from_numpy(((x - self.mean) / self.std).astype(np.float32)).to(dev)
        return torch.softmax(self.probe(z), dim=-1)[:, 1].cpu().numpy()


def fit_probe(x: np.ndarray, y: np.ndarray, cfg: ProbeConfig) -> FittedProbe:
    """Train a NeuroX logistic-regression probe on ``x [rows, units]`` (labels ``y``, 1 = concept).

    Classes are balanced with NeuroX's undersampler, capped at ``max_tokens``, z-scored per
    unit and split into train / held-back parts; the metrics give both accuracies.
    """
    from neurox.interpretation import linear_probe
    from neurox.interpretation.utils import balance_binary_class_data

    np.random.seed(cfg.seed)  # NeuroX's undersampler draws from numpy's global generator
    x, y = balance_binary_class_data(x, y)
    rng = np.random.default_rng(cfg.seed)
    idx = rng.permutation(len(y))[: cfg.max_tokens]
    x, y = x[idx].astype(np.float32), y[idx].astype(np.int64)
    n_test = max(1, int(cfg.heldout_frac * len(y)))
    xtr, ytr, xte, yte = x[n_test:], y[n_test:], x[:n_test], y[:n_test]
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    torch.manual_seed(cfg.seed)
    steps_per_epoch = -(-len(ytr) // cfg.batch_size)
    epochs = max(cfg.epochs, -(-cfg.min_steps // steps_per_epoch))
    with quiet_stdout():  # NeuroX prints every epoch; keep the tail in the log instead
        probe = linear_probe.train_logistic_regression_probe(
            xtr,
            ytr,
            lambda_l1=cfg.lambda_l1,
            lambda_l2=cfg.lambda_l2,
            num_epochs=epochs,
            batch_size=cfg.batch_size,
            learning_rate=cfg.learning_rate,
        )
        idx_to_class = {0: "other", 1: "concept"}
        acc_test = linear_probe.evaluate_probe(probe, xte, yte, idx_to_class=idx_to_class, batch_size=cfg.batch_size)
        acc_train = linear_probe.evaluate_probe(probe, xtr, ytr, idx_to_class=idx_to_class, batch_size=cfg.batch_size)
    metrics = {
        "probe_accuracy_heldout": float(acc_test["__OVERALL__"]),
        "probe_accuracy_train": float(acc_train["__OVERALL__"]),
        "train_tokens": int(len(ytr)),
        "heldout_tokens": int(len(yte)),
        "epochs": epochs,
    }
    return FittedProbe(probe, mu, sd, metrics)


def train_probe(x: np.ndarray, y: np.ndarray, cfg: ProbeConfig) -> tuple[np.ndarray, np.ndarray, dict]:
    """NeuroX probe on ``x [tokens, units]`` (labels ``y``): ``(scores, order, metrics)`` per unit.

    Scores are the summed absolute class weights; the order is NeuroX's weight-mass ordering.
    """
    from neurox.interpretation import linear_probe

    fitted = fit_probe(x, y, cfg)
    with quiet_stdout():
        ordering, cutoffs = linear_probe.get_neuron_ordering(fitted.probe, {"other": 0, "concept": 1})
    flat = np.abs(fitted.probe.linear.weight.detach().cpu().numpy()).sum(0)  # [classes, units] -> units
    return flat, refine_ordering(ordering, cutoffs, flat), fitted.metrics


@register_ranker("probe", ProbeConfig)
def rank_probe(model: HookedLM, concept: Concept, cfg: ProbeConfig) -> Ranking:
    """Train a NeuroX logistic-regression probe on all MLP neurons; rank by its weights."""
    hooks = [model.mlp_hook(layer) for layer in range(model.n_layers)]
    mem = InMemory()
    run_and_cache(model, probing_items(model, concept), hooks, [mem], desc="caching for probe")
    flat, order, metrics = train_probe(*mem.matrix(hooks), cfg)
    return Ranking(
        method="probe",
        scores=flat.reshape(model.n_layers, model.d_mlp),
        order=order,
        model={},
        concept=concept.name,
        metrics=metrics,
    )
