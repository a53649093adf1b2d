"""What a method's loss can ask the run for: the frozen reference, a teacher, precomputed values, the data."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from mechunlearn.activations.capture import capture
from mechunlearn.models.hooked import HookedLM
from mechunlearn.training.data import Example, UnlearnData, make_batch
from mechunlearn.unlearning.base import Batch


@dataclass
class Context:
    """The run's shared state, handed to :meth:`Method.setup` and (as ``step.ctx``) to the loss.

    ``reference_logits`` / ``reference_acts`` run the frozen starting model — the model as it was
    before training, with the same edits in force: with LoRA the adapters switched off, else a
    frozen copy made once (only for methods that ask for it).
    """

    model: HookedLM
    data: UnlearnData
    rng: random.Random
    lora: Any = None  # the peft model while LoRA adapters are in
    concept: Any = None  # the concept being unlearned (methods that read its folder: whp's anchors)
    fine_tune: Callable[..., Any] | None = None  # the loop's train_epochs, for a setup that trains a model of its own
    _frozen: HookedLM | None = field(default=None, repr=False)
    _teacher_rows: list[Example] | None = field(default=None, repr=False)
    _teacher_cut: tuple[int, int] | None = field(default=None, repr=False)

    def frozen(self) -> HookedLM:
        if self._frozen is None:
            m = self.model
            bridge = copy.deepcopy(m.bridge)
            for p in bridge.parameters():
                p.requires_grad_(False)
            self._frozen = HookedLM(bridge, m.tokenizer, m.name, m.source_path, list(m.edits))
        return self._frozen

    def _reference(self, fn: Callable[[HookedLM], Any]) -> Any:
        with torch.no_grad():
            if self.lora is not None:
                with self.lora.disable_adapter():
                    return fn(self.model)
            return fn(self.frozen())

    def reference_logits(self, batch: Batch) -> torch.Tensor:
        return self._reference(lambda m: m.logits(batch.input_ids, batch.attention_mask))

    def reference_acts(self, batch: Batch, hook: str) -> torch.Tensor:
        store: dict[str, torch.Tensor] = {}
        self._reference(lambda m: m.run_hooks(batch.input_ids, batch.attention_mask, capture([hook], store)))
        return store[hook]

    def _batches(self, side: str = "forget", size: int = 8):
        n = len(self.data.pool(side))
        for i in range(0, n, size):
            yield self.data.batch(side, list(range(i, min(n, i + size))))

    def hold_teacher(self) -> None:
        """Keep the model as it is now, every edit in force, as the teacher of :meth:`teacher_logprobs`,
        reading the retain rows as they are now (call in ``setup``, before the model or its rows change)."""
        self.frozen()
        self._teacher_rows = list(self.data.retain)

    def drop_teacher_prompt(self, keep: int, cut: int) -> None:
        """The student reads the retain rows without tokens ``keep .. keep + cut`` (a guardrail's prompt);
        the teacher still reads them, and :meth:`teacher_logprobs` lines its positions up with the student's."""
        self.data.drop_prefix_tokens("retain", keep, cut)
        # the teacher's prediction of the text's first token sits at its prompt's last position
        self._teacher_cut = (max(keep - 1, 0), cut)

    @torch.no_grad()
    def teacher_logprobs(self, batch: Batch) -> torch.Tensor:
        """The held teacher's next-token log-probabilities ``[rows, len, vocab]`` (float32) of a retain batch's
        rows, position for position as the student reads them. Computed per batch: a whole corpus' worth
        at once does not fit (gemma's 262,144-entry vocabulary: 1 MB a token in float32)."""
        if self._teacher_rows is None:
            raise RuntimeError("teacher_logprobs needs hold_teacher() in the method's setup")
        teacher = self.frozen()
        rows = make_batch(teacher, [self._teacher_rows[i] for i in batch.index], batch.index)
        lp = torch.log_softmax(teacher.logits(rows.input_ids, rows.attention_mask).float(), -1)
        if self._teacher_cut is not None:
            k, cut = self._teacher_cut
            lp = torch.cat([lp[:, :k], lp[:, k + cut :]], 1)
        return lp[:, : batch.input_ids.shape[1]]

    def generic_labels(self, alpha: float, reinforce_epochs: int, reinforce_lr: float) -> list[torch.Tensor]:
        """Who's Harry Potter's label of every forget example's every position (call in ``setup``):
        a reinforced copy trained on the forget rows, the concept's anchored terms, the formula of
        :mod:`mechunlearn.training.generic_labels`. What the translation covered is logged."""
        import logging

        from mechunlearn.core.errors import MechUnlearnError
        from mechunlearn.training.anchors import read_anchors
        from mechunlearn.training.generic_labels import generic_labels, reinforced_copy

        if self.concept is None or self.fine_tune is None:
            raise MechUnlearnError(
                "generic labels need the concept (its anchors.tsv) and the loop's fine-tuning: run the method "
                "through `unlearn` (or `train(..., concept=...)`)"
            )
        anchors = read_anchors(self.concept)
        twin = reinforced_copy(self.model, self.data.forget, reinforce_epochs, reinforce_lr, self.fine_tune)
        labels, stats = generic_labels(self.model, twin, self.data.forget, anchors, alpha)
        logging.getLogger(__name__).info("generic labels: %s", stats)
        return labels

    def reference_nll(self, batch: Batch) -> torch.Tensor:
        """Summed NLL of each row's targets under the frozen starting model (NPO's reference), per batch:
        only the rows the run trains on are scored."""
        from mechunlearn.unlearning.base import Outputs
        from mechunlearn.unlearning.losses import sequence_nll

        return sequence_nll(Outputs(batch, self.reference_logits(batch), {}))

    @torch.no_grad()
    def mean_forget_norm(self, hook: str) -> float:
        """Mean L2 norm of the activation at ``hook`` over the forget examples' text tokens (now; no BOS)."""
        total, count = 0.0, 0
        for b in self._batches():
            store: dict[str, torch.Tensor] = {}
            self.model.run_hooks(b.input_ids, b.attention_mask, capture([hook], store))
            norms = store[hook].float().norm(dim=-1)[b.content.bool()]
            total, count = total + float(norms.sum()), count + norms.numel()
        return total / max(1, count)
