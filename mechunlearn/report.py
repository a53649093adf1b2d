"""The before/after measurements every command reports, and their printed table."""

from __future__ import annotations

from dataclasses import dataclass

from mechunlearn.concepts import Concept
from mechunlearn.evaluation import fact_accuracy, perplexity
from mechunlearn.models.hooked import HookedLM


@dataclass
class EvalSets:
    """What a report measures on: the concept's fact files and held-back corpus passages."""

    concept: Concept

    def measure(self, model: HookedLM) -> dict[str, float]:
        """Fact accuracies (greedy) and perplexities on held-back forget/retain passages."""
        c = self.concept
        return {
            "forget_fact_acc": fact_accuracy(model, c.facts_forget),
            "retain_fact_acc": fact_accuracy(model, c.facts_retain),
            "forget_ppl": perplexity(model, c.forget_split()[1]),
            "retain_ppl": perplexity(model, c.retain_split()[1]),
            "forget_fact_acc_paraphrased": fact_accuracy(model, c.paraphrased("forget")),
            "retain_fact_acc_paraphrased": fact_accuracy(model, c.paraphrased("retain")),
        }


def format_table(stages: dict[str, dict[str, float]]) -> str:
    """A plain-text table: one row per metric, one column per stage."""
    names = list(stages)
    keys = [k for k in stages[names[0]] if isinstance(stages[names[0]][k], int | float)]
    w = max(len(k) for k in keys) + 2
    lines = ["metric".ljust(w) + "".join(n.rjust(12) for n in names)]
    for k in keys:
        lines.append(k.ljust(w) + "".join(f"{stages[n].get(k, float('nan')):12.3f}" for n in names))
    return "\n".join(lines)


def stage_table(stages: list[dict]) -> str:
    """:func:`format_table` of a stack's stages (``{"name", "metrics"}``), repeated names numbered."""
    cols: dict[str, dict[str, float]] = {}
    for s in stages:
        name, n = s["name"], 2
        while name in cols:
            name, n = f"{s['name']}{n}", n + 1
        cols[name] = s["metrics"]
    return format_table(cols)


def add_stages(prior: list[dict], before: dict, new: list[tuple[str, str, dict]]) -> list[dict]:
    """The stack's stages: earlier ones (or ``before`` for a fresh model), then ``(name, detail, metrics)``."""
    head = prior or [{"name": "before", "detail": "unedited", "metrics": before}]
    return head + [{"name": n, "detail": d, "metrics": m} for n, d, m in new]
