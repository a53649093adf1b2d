"""Retrain an edited model on filtered data with its edits kept in force (prune, then retrain).

``prune --retrain`` runs the ``sft`` unlearning method (next-token loss on concept-free text)
in the shared unlearning loop (:mod:`mechunlearn.training.loop`): the forward pass goes
through the hooked model, so ablated neurons stay ablated while the remaining weights adapt;
afterwards the edits are baked as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mechunlearn.concepts.folders import Concept
from mechunlearn.models.hooked import HookedLM
from mechunlearn.training.epochs import EpochConfig
from mechunlearn.training.loop import TrainResult, train_epochs


@dataclass
class RetrainConfig(EpochConfig):
    """Args: epochs (passes over the filtered retain data), lr, batch_size, weight_decay, seed
    (:class:`~mechunlearn.training.epochs.EpochConfig`)."""


def filtered_retain_texts(concept: Concept) -> list[str]:
    """Training text with no mention of the concept: retain passages and non-concept sentences."""
    texts = concept.retain_split()[0] + concept.other_sentences
    return [t for t in texts if not concept.mentions(t)]


def retrain(model: HookedLM, texts: Sequence[str], cfg: RetrainConfig) -> TrainResult:
    """Fine-tune all weights on ``texts`` by next-token prediction through the hooked model (``sft``)."""
    return train_epochs(model, "sft", texts, cfg)
