"""The scorecard: what a run forgot against what it kept, in one short list of figures.

Forget side (lower is more forgotten): the concept's facts the base model knew, by multiple
choice and greedy completion (test split, ``natural`` facts where the concept has them, else
``corpus``); familiar continuations of concept openings; the worst adversarial form; the
measured half after the relearning attack; the membership-inference AUC (Min-K%++) on the text
unlearning trained on. Keep side (higher is better kept, perplexity ratio near 1): other facts
the base model knew, MC and greedy; retain perplexity over the first stage's; familiar
continuations of control openings. A figure whose check did not run is left out.
"""

from __future__ import annotations

ROWS = (
    ("forget.mc", "{set}.forget.test.known.mc"),
    ("forget.greedy", "{set}.forget.test.known.greedy"),
    ("forget.familiarity", "familiarity.concept"),
    ("forget.adversarial_worst", "adversarial.worst.forget.mc"),
    ("forget.after_relearning", "relearn.after.known"),
    ("forget.mia_auc", "mia.min_k_pp.auc"),
    ("keep.mc", "{set}.retain.test.known.mc"),
    ("keep.greedy", "{set}.retain.test.known.greedy"),
    ("keep.ppl_ratio", None),
    ("keep.familiarity", "familiarity.control"),
)


def headline_set(metrics: dict[str, float]) -> str:
    """The fact set the scorecard reads: ``natural`` (facts as a reader states them) if measured, else ``corpus``."""
    return "natural" if any(k.startswith("natural.") for k in metrics) else "corpus"


def scorecard(metrics: dict[str, float], first: dict[str, float] | None = None) -> dict[str, float]:
    """The scorecard of ``metrics``; ``first`` (the first stage's metrics) gives the perplexity ratio."""
    s = headline_set(metrics)
    out = {}
    for name, key in ROWS:
        if key is None:
            if first and "retain_ppl" in metrics and first.get("retain_ppl"):
                out[name] = metrics["retain_ppl"] / first["retain_ppl"]
            continue
        value = metrics.get(key.format(set=s))
        if value is not None:
            out[name] = value
    return out
