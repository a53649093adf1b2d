"""``perplexity``: token perplexity on held-back passages of the concept and of other text.

Held-back passages are never trained on by any command (alternate ones are the ``validation``
and ``test`` split). Forget perplexity should rise as the concept goes; retain perplexity
should not (the Machine-Unlearning project's Harry Potter vs other-text perplexity).
Metrics: ``forget_ppl``, ``retain_ppl`` (test split), ``forget_ppl.validation``, ``retain_ppl.validation``.
"""

from __future__ import annotations

from mechunlearn.evaluation.checks.base import Check, register_check
from mechunlearn.evaluation.scoring import perplexity


@register_check("perplexity")
class Perplexity(Check):
    default = True

    def run(self, model, ctx):
        out = {}
        for split in ctx.splits:
            suffix = "" if split == "test" else f".{split}"
            out[f"forget_ppl{suffix}"] = perplexity(model, ctx.concept.held_texts("forget", split))
            out[f"retain_ppl{suffix}"] = perplexity(model, ctx.concept.held_texts("retain", split))
        return out
