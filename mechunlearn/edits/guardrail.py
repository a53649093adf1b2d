"""``guardrail``: a prompt in force before every text the model reads — forgetting by asking.

The guardrail baseline of the Machine-Unlearning project and of Thaker et al. 2024 ("Guardrail
baselines for unlearning in LLMs", arXiv 2403.03329), and RWKU's in-context unlearning: the
model is told (a chat model) or framed (a base model) not to know the concept. Here the prompt
is the concept's ``guardrail.txt``, followed by a blank line, put after the tokenizer's special
prefix (BOS) of every text: :meth:`HookedLM.special_prefix` includes it, so every forward pass
the library makes — evaluation, generation, the retain budget, training — reads it, and every
measurement skips its tokens as it skips BOS (:meth:`HookedLM.content_mask`). Removing the edit
restores the model exactly: no weight is touched.

A prompt has no weight form: ``bake`` refuses. ``mechunlearn guardrail --bake`` distils it into
the weights instead (context distillation, :mod:`mechunlearn.unlearning.methods.distill`).
Tools that tokenize for themselves (lm-eval's ``HFLM``) do not see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.edits.base import register_edit
from mechunlearn.models.hooked import FwdHook, HookedLM


@register_edit("guardrail")
@dataclass
class Guardrail:
    """Put ``text`` (and a blank line) before every text; ``source`` says where the text came from."""

    text: str
    source: str = ""
    _ids: dict[int, list[int]] = field(default_factory=dict, repr=False, compare=False)
    kind = "guardrail"
    exact = False

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise MechUnlearnError(
                f"the guardrail text{' in ' + self.source if self.source else ''} is empty; "
                "give a sentence or two that tells the model not to know the concept"
            )

    @property
    def prompt(self) -> str:
        return self.text.strip() + "\n\n"

    def prefix_ids(self, model: HookedLM) -> list[int]:
        """The prompt's tokens (no special tokens), for ``model``'s tokenizer."""
        key = id(model.tokenizer)
        if key not in self._ids:
            self._ids[key] = list(model.tokenizer(self.prompt, add_special_tokens=False)["input_ids"])
        return self._ids[key]

    def hooks(self, model: HookedLM) -> list[FwdHook]:
        return []

    def bake(self, model: HookedLM) -> None:
        raise MechUnlearnError(
            "a guardrail is a prompt, not a weight edit, and cannot be written into the weights exactly; "
            "keep it as an edit (mechunlearn re-applies it on load) or distil it with `mechunlearn guardrail --bake`"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "source": self.source}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Guardrail:
        return cls(text=d.get("text", ""), source=d.get("source", ""))
