"""``paraphrase``: the ``facts`` check on the paraphrased fact sets.

Each paraphrased set asks the facts of its set in other words (``corpus_paraphrased``: the
bundled corpus' facts in sentences it never trained on; ``natural_paraphrased``). Unlearning
that only suppressed the trained wording shows here: the paraphrase still recalls the fact.
Metrics as ``facts``: ``{set}_paraphrased.{side}.{split}[.known].{greedy|mc|p_right|n}``.
"""

from __future__ import annotations

from mechunlearn.evaluation.checks.base import Check, register_check
from mechunlearn.evaluation.checks.facts import score_sets


@register_check("paraphrase")
class Paraphrase(Check):
    default = True
    records_known = True

    def run(self, model, ctx):
        return score_sets(model, ctx, paraphrased=True)
