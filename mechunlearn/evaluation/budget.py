"""A utility budget: how much of what must be kept an edit may cost, measured on validation data.

The retain loss of an edit is the larger of
  * ``facts_lost``: over the base model's *known* retain facts (validation split of every
    fact set), one minus the mean share of each fact that is kept — for a multiple-choice
    fact the right choice's probability now over before (capped at 1), for a greedy-only fact
    1 if still known else 0. Continuous, so a budget of 3% means something on 25 facts,
    where a single lost fact would already be 4%;
  * ``loss_rise``: the relative rise of the language-model loss (mean next-token NLL) on the
    retain corpus' validation passages. 3% of gemma-3-270m's loss (3.15 nats) is perplexity x1.10.
:func:`largest_within` tries edit strengths in increasing order and keeps the largest one
whose retain loss stays within ``max_drop``. The test split, which reports give, is never read.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mechunlearn.concepts.folders import Concept
from mechunlearn.evaluation.scoring import perplexity, score_facts
from mechunlearn.models.hooked import HookedLM

log = logging.getLogger(__name__)

DEFAULT_MAX_RETAIN_DROP = 0.03


@dataclass
class RetainBudget:
    """Measures retain loss against the unedited model's validation figures."""

    concept: Concept
    known: dict
    max_drop: float = DEFAULT_MAX_RETAIN_DROP
    base_ppl: float = field(default=float("nan"))
    base_scores: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.facts = self.concept.facts("retain", "validation", self.known)
        self.texts = self.concept.held_texts("retain", "validation")

    def calibrate(self, model: HookedLM) -> None:
        """Record the unedited model's validation figures (call before the edit under test)."""
        self.base_ppl = perplexity(model, self.texts)
        self.base_scores = score_facts(model, self.facts) if self.facts else []

    def loss(self, model: HookedLM) -> dict[str, float]:
        """``facts_lost``, ``loss_rise`` and their max, ``retain_loss``, for the model as it is now."""
        scores = score_facts(model, self.facts) if self.facts else []
        kept = [
            min(1.0, now.p_right / base.p_right) if base.p_right is not None else float(now.known)
            for now, base in zip(scores, self.base_scores, strict=True)
        ]
        lost = 1 - sum(kept) / len(kept) if kept else 0.0
        ppl = perplexity(model, self.texts)
        rise = math.log(ppl) / math.log(self.base_ppl) - 1
        return {"facts_lost": lost, "loss_rise": rise, "ppl_ratio": ppl / self.base_ppl, "retain_loss": max(lost, rise)}


def largest_within(
    candidates: Sequence[Any],
    apply: Callable[[Any], None],
    undo: Callable[[], None],
    model: HookedLM,
    budget: RetainBudget,
) -> tuple[Any | None, list[dict]]:
    """The largest candidate (in the given increasing order) within budget, and every trial.

    ``apply(c)`` puts the edit of strength ``c`` in force, ``undo()`` removes it. Stops at the
    first candidate over budget (retain loss grows with strength). ``None`` if even the first is over.
    """
    chosen, trials = None, []
    for c in candidates:
        apply(c)
        try:
            loss = budget.loss(model)
        finally:
            undo()
        ok = loss["retain_loss"] <= budget.max_drop
        trials.append({"candidate": c, **{k: round(v, 4) for k, v in loss.items()}, "within_budget": ok})
        log.info("budget trial %s: %s", c, trials[-1])
        if not ok:
            break
        chosen = c
    return chosen, trials


def geometric_steps(start: int, stop: int) -> list[int]:
    """``start``, then steps of x sqrt(2) (16, 23, 32, 45, 64, ...), up to and including ``stop``."""
    out, k = [], float(start)
    while round(k) < stop:
        if not out or round(k) > out[-1]:
            out.append(round(k))
        k *= 2**0.5
    return out + [stop]


def choose_size(
    model: HookedLM, concept: Concept, max_drop: float, k_max: int, make_edit: Callable[[int], Any], units: str
) -> tuple[int, dict[str, Any]]:
    """The largest ``k`` (4, 6, 8, 11, 16, ... up to ``k_max``) whose edit ``make_edit(k)`` stays within budget.

    Returns ``k`` (0 if even the smallest is over) and the report's ``budget`` record (``units``
    names what ``k`` counts, e.g. ``neurons``).
    """
    budget = RetainBudget(concept, concept.known, max_drop)
    budget.calibrate(model)
    chosen, trials = largest_within(
        geometric_steps(min(4, k_max), k_max),
        lambda k: model.edits.append(make_edit(k)),
        model.edits.pop,
        model,
        budget,
    )
    reason = (
        f"largest number of {units} with retain loss <= {max_drop} on validation facts and text"
        if chosen
        else f"even {trials[0]['candidate']} {units} cost more than {max_drop}: nothing edited"
    )
    record = {"max_retain_drop": max_drop, "chosen": chosen or 0, "units": units, "reason": reason, "trials": trials}
    return chosen or 0, record | {"validation_retain_facts": len(budget.facts)}
