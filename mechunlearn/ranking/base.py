"""Rankings of MLP neurons by relevance to a concept, and the registry of ranking methods.

A neuron is ``Neuron(layer, index)``: coordinate ``index`` of the MLP hidden space (d_mlp)
of block ``layer`` (hook ``blocks.{layer}.mlp.hook_post``). A :class:`Ranking` holds one
score per neuron (``[n_layers, d_mlp]``) and the method's order, most relevant first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.registry import Registry


class Neuron(NamedTuple):
    """An MLP neuron: ``index`` in the d_mlp hidden space of block ``layer``."""

    layer: int
    index: int


@dataclass
class Ranking:
    """Per-neuron relevance scores and an order (most relevant first).

    Attributes:
        method: name of the ranking method in the registry.
        scores: ``[n_layers, d_mlp]`` float array; larger means more relevant.
        order: flat neuron ids ``layer * d_mlp + index``, most relevant first.
        model: ``{"name", "fingerprint"}`` of the model it was computed on.
        concept: concept name.
        config: the method's configuration.
        metrics: what the method reports (e.g. probe accuracy on a held-back split).
        unit: ``mlp_neuron`` (scores ``[n_layers, d_mlp]``) or ``sae_feature`` (scores
            ``[1, d_sae]``: one row, the SAE's features).
        sae: for feature rankings, the SAE (``ref``, ``hook``, ``d_sae``, ``fingerprint``).
    """

    method: str
    scores: np.ndarray
    order: np.ndarray
    model: dict[str, str]
    concept: str
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    unit: str = "mlp_neuron"
    sae: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float32)  # stored as float32: same after reload
        self.order = np.asarray(self.order, dtype=np.int64)

    @property
    def n_layers(self) -> int:
        return int(self.scores.shape[0])

    @property
    def d_mlp(self) -> int:
        return int(self.scores.shape[1])

    @property
    def n_neurons(self) -> int:
        return int(self.scores.size)

    def top(self, k: int) -> list[Neuron]:
        """The ``k`` most relevant neurons."""
        if not 0 < k <= self.n_neurons:
            what = "the SAE's width" if self.unit == "sae_feature" else "all MLP neurons"
            raise MechUnlearnError(f"top-k must be between 1 and {self.n_neurons} ({what}), got {k}")
        return [Neuron(int(i) // self.d_mlp, int(i) % self.d_mlp) for i in self.order[:k]]

    def top_features(self, k: int) -> list[int]:
        """The ``k`` most relevant SAE features (feature rankings)."""
        return [n.index for n in self.top(k)]

    def rank_of(self, neuron: Neuron) -> int:
        """0-based position of ``neuron`` in the order."""
        return int(np.nonzero(self.order == neuron.layer * self.d_mlp + neuron.index)[0][0])

    @staticmethod
    def order_from_scores(scores: np.ndarray) -> np.ndarray:
        return np.argsort(-scores.reshape(-1), kind="stable")

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_file(
            {
                "scores": torch.from_numpy(np.ascontiguousarray(self.scores, dtype=np.float32)),
                "order": torch.from_numpy(np.ascontiguousarray(self.order, dtype=np.int64)),
            },
            str(folder / "scores.safetensors"),
        )
        meta = {k: v for k, v in asdict(self).items() if k not in ("scores", "order")}
        meta["n_layers"], meta["d_mlp"] = self.n_layers, self.d_mlp
        (folder / "ranking.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> Ranking:
        folder = Path(folder)
        if not (folder / "ranking.json").is_file():
            raise MechUnlearnError(f"no ranking in {folder} (expected ranking.json and scores.safetensors)")
        try:
            meta = json.loads((folder / "ranking.json").read_text())
            t = load_file(str(folder / "scores.safetensors"))
            meta.pop("n_layers", None), meta.pop("d_mlp", None)
            return cls(scores=t["scores"].numpy(), order=t["order"].numpy(), **meta)
        except Exception as e:  # a folder someone else wrote, or a half-copied one: one line, not a traceback
            why = " ".join(str(e).split())[:300] or type(e).__name__
            raise MechUnlearnError(
                f"{folder} does not hold a readable ranking ({type(e).__name__}: {why}); give a folder that "
                "`mechunlearn rank` wrote (its ranking/) or a prune run's ranking/"
            ) from None


RankFn = Callable[..., Ranking]
RANKERS: Registry[RankFn] = Registry("ranking method")  # fn(model, concept, cfg) -> Ranking
register_ranker = RANKERS.register

FEATURE_RANKERS: Registry[RankFn] = Registry("feature ranking method")  # fn(model, sae, concept, cfg) -> Ranking
register_feature_ranker = FEATURE_RANKERS.register
