"""The before/after measurements every command reports, and their printed table."""

from __future__ import annotations

from dataclasses import dataclass

from mechunlearn.concepts.folders import Concept, fact_split
from mechunlearn.evaluation.scoring import FactScore, perplexity, score_facts, summarize
from mechunlearn.models.hooked import HookedLM

Known = dict[str, dict[str, list[int]]]  # fact set -> side -> indices of facts the base model knows


def _summary(scores: list[FactScore], prefix: str) -> dict[str, float]:
    """``{prefix}.n``, ``.greedy``, ``.mc``, ``.p_right`` of :func:`summarize` (those it has)."""
    s = summarize(scores)
    return {f"{prefix}.{k}": v for k, v in s.items() if k in ("n", "greedy", "mc", "p_right") and v is not None}


@dataclass
class EvalSets:
    """What a report measures on: every fact set of the concept and held-back corpus passages.

    Metrics are a flat dict: ``{set}.{side}.{split}.{greedy|mc|p_right|n}``, the same with
    ``_known`` on the facts the base model knew (``known``, recorded by the first
    :meth:`measure` with ``record_known=True`` and kept for every later stage), and
    ``forget_ppl`` / ``retain_ppl`` on held-back passages of that split.
    """

    concept: Concept
    known: Known | None = None

    def measure(
        self, model: HookedLM, splits: tuple[str, ...] = ("test",), *, record_known: bool = False
    ) -> dict[str, float]:
        """Score the fact sets' ``splits`` (all facts when recording the known subset) and perplexities."""
        c = self.concept
        out: dict[str, float] = {}
        known: Known = {}
        for name, fs in c.fact_sets.items():
            for side in ("forget", "retain"):
                facts = fs.side(side)
                wanted = [i for i in range(len(facts)) if record_known or fact_split(i) in splits]
                scores = dict(zip(wanted, score_facts(model, [facts[i] for i in wanted]), strict=True))
                if record_known:
                    known.setdefault(name, {})[side] = [i for i, s in scores.items() if s.known]
                for split in splits:
                    idx = [i for i in scores if fact_split(i) == split]
                    out |= _summary([scores[i] for i in idx], f"{name}.{side}.{split}")
                    if self.known is not None or record_known:
                        kn = set((known if record_known else self.known).get(name, {}).get(side, []))
                        out |= _summary([scores[i] for i in idx if i in kn], f"{name}.{side}.{split}.known")
        if record_known:
            self.known = known
        for split in splits:
            suffix = "" if split == "test" else f".{split}"
            out[f"forget_ppl{suffix}"] = perplexity(model, c.held_texts("forget", split))
            out[f"retain_ppl{suffix}"] = perplexity(model, c.held_texts("retain", split))
        return out


def known_counts(known: Known) -> dict[str, dict[str, int]]:
    """How many facts of each set and side the base model knows."""
    return {name: {side: len(ix) for side, ix in sides.items()} for name, sides in known.items()}


def headline_keys(metrics: dict[str, float]) -> list[str]:
    """The rows worth printing: per fact set and side, test-split MC (greedy for sets without
    choices) and the same on the known subset; then the perplexities."""
    keys = []
    for k in metrics:
        parts = k.split(".")
        if len(parts) == 4 and parts[2] == "test" and parts[3] in ("mc", "greedy"):
            prefix = ".".join(parts[:3])
            if parts[3] == "greedy" and f"{prefix}.mc" in metrics:
                continue
            keys += [k] + ([f"{prefix}.known.{parts[3]}"] if f"{prefix}.known.{parts[3]}" in metrics else [])
    return keys + [k for k in ("forget_ppl", "retain_ppl") if k in metrics]


def format_table(stages: dict[str, dict[str, float]], keys: list[str] | None = None) -> str:
    """A plain-text table: one row per metric (``keys``, default every number), one column per stage."""
    names = list(stages)
    if keys is None:
        keys = [k for k in stages[names[0]] if isinstance(stages[names[0]][k], int | float)]
    w = max(len(k) for k in keys) + 2
    lines = ["metric".ljust(w) + "".join(n.rjust(12) for n in names)]
    for k in keys:
        lines.append(k.ljust(w) + "".join(f"{stages[n].get(k, float('nan')):12.3f}" for n in names))
    return "\n".join(lines)


def markdown_table(stages: dict[str, dict[str, float]]) -> str:
    """The headline rows of ``stages`` (name -> metrics) as a markdown table, for model cards."""
    names = list(stages)
    keys = headline_keys(stages[names[0]])
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(f"{stages[n].get(k, float('nan')):.3f}" for n in names) + " |")
    return "\n".join(lines)


def stage_table(stages: list[dict], keys: list[str] | None = None) -> str:
    """:func:`format_table` of a stack's stages (``{"name", "metrics"}``), repeated names numbered."""
    cols: dict[str, dict[str, float]] = {}
    for s in stages:
        name, n = s["name"], 2
        while name in cols:
            name, n = f"{s['name']}{n}", n + 1
        cols[name] = s["metrics"]
    first = next(iter(cols.values()))
    return format_table(cols, keys if keys is not None else headline_keys(first))


def add_stages(prior: list[dict], before: dict, new: list[tuple[str, str, dict]]) -> list[dict]:
    """The stack's stages: earlier ones (or ``before`` for a fresh model), then ``(name, detail, metrics)``."""
    head = prior or [{"name": "before", "detail": "unedited", "metrics": before}]
    return head + [{"name": n, "detail": d, "metrics": m} for n, d, m in new]


def evaluate(model: HookedLM, concept: Concept, splits: tuple[str, ...] = ("validation", "test")) -> dict[str, float]:
    """Every metric of :class:`EvalSets` for ``model`` on ``concept`` (what ``mechunlearn evaluate`` prints)."""
    return EvalSets(concept).measure(model, splits, record_known=True)
