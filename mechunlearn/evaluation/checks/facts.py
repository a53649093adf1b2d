"""``facts``: recall of the concept's facts and of other facts, by greedy completion and multiple choice.

For every fact set that is not a paraphrase (``corpus``: the bundled corpus' own statements;
``natural``: facts stated as a reader would, 4-option multiple choice), on each side (forget:
the concept; retain: everything else) and split: the share of facts whose greedy continuation
is the answer, the share whose right choice has the highest summed log-probability (MC), and
the mean probability of the right choice normalised over the choices — on all facts and on the
facts the base model knew (``.known``). Metrics: ``{set}.{side}.{split}[.known].{greedy|mc|p_right|n}``.
"""

from __future__ import annotations

from mechunlearn.concepts.folders import fact_split
from mechunlearn.evaluation.checks.base import Check, CheckContext, register_check
from mechunlearn.evaluation.scoring import FactScore, score_facts, summarize


def _summary(scores: list[FactScore], prefix: str) -> dict[str, float]:
    """``{prefix}.n``, ``.greedy``, ``.mc``, ``.p_right`` of :func:`summarize` (those it has)."""
    s = summarize(scores)
    return {f"{prefix}.{k}": v for k, v in s.items() if k in ("n", "greedy", "mc", "p_right") and v is not None}


def score_sets(model, ctx: CheckContext, paraphrased: bool) -> dict[str, float]:
    """Score the fact sets (the paraphrased ones, or the others) on ``ctx.splits``; all splits when recording
    which facts the model knows (kept in ``ctx.known``)."""
    out: dict[str, float] = {}
    for name, fs in ctx.concept.fact_sets.items():
        if ("paraphrased" in name) != paraphrased:
            continue
        for side in ("forget", "retain"):
            facts = fs.side(side)
            wanted = [i for i in range(len(facts)) if ctx.scored(fact_split(i))]
            scores = dict(zip(wanted, score_facts(model, [facts[i] for i in wanted]), strict=True))
            if ctx.record_known:
                ctx.known = ctx.known or {}
                ctx.known.setdefault(name, {})[side] = [i for i, s in scores.items() if s.known]
            for split in ctx.splits:
                idx = [i for i in scores if fact_split(i) == split]
                out |= _summary([scores[i] for i in idx], f"{name}.{side}.{split}")
                if ctx.known is not None:
                    kn = set(ctx.known.get(name, {}).get(side, []))
                    out |= _summary([scores[i] for i in idx if i in kn], f"{name}.{side}.{split}.known")
    return out


@register_check("facts")
class Facts(Check):
    default = True
    records_known = True

    def run(self, model, ctx):
        return score_sets(model, ctx, paraphrased=False)
