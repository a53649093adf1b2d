"""The before/after measurements every command reports, and their printed table."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from mechunlearn.concepts.folders import Concept
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.evaluation.checks import CheckContext, TrainedOn, make_checks
from mechunlearn.evaluation.checks.base import Known
from mechunlearn.evaluation.scorecard import scorecard
from mechunlearn.models.hooked import HookedLM

log = logging.getLogger("mechunlearn.evaluation")


@dataclass
class EvalSets:
    """What every measurement of a run runs: the evaluation checks (:mod:`mechunlearn.evaluation.checks`),
    by default the fast set (``facts``, ``paraphrase``, ``perplexity``), ``checks="all"`` for every one.

    Metrics are one flat dict of every check's metrics: ``{set}.{side}.{split}.{greedy|mc|p_right|n}``,
    the same with ``.known`` on the facts the base model knew (``known``, recorded by the first
    :meth:`measure` with ``record_known=True`` and kept for every later stage), ``forget_ppl`` /
    ``retain_ppl`` on held-back passages, and whatever the other checks add.
    """

    concept: Concept
    known: Known | None = None
    checks: str | list[str] | None = None
    check_options: dict[str, dict] | None = None
    out: Path | None = None  # where checks keep what they saw (``checks/{check}-{stage}.json``)
    trained_on: TrainedOn | None = None
    memory: dict = field(default_factory=dict)
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)  # stage -> check -> seconds

    def __post_init__(self) -> None:
        self._checks = make_checks(self.checks, self.check_options)
        for c in self._checks:
            why = c.missing(self.concept, self._context(("test",), False, "check"))
            if why:
                raise MechUnlearnError(f"check '{c.name}' cannot run on concept '{self.concept.name}': {why}")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self._checks]

    def _context(self, splits, record_known: bool, stage: str, known_splits=None) -> CheckContext:
        return CheckContext(
            self.concept,
            tuple(splits),
            self.known,
            record_known,
            self.out,
            stage,
            self.trained_on,
            self.memory,
            known_splits,
        )

    def recall(self, metrics: dict[str, float]) -> None:
        """Continue from a first stage read back instead of measured (``evaluate --base-from``): what the
        checks keep from it for the later stages (e.g. MIA's reference AUC)."""
        for c in self._checks:
            c.recall(self.memory, metrics)

    def measure(
        self,
        model: HookedLM,
        splits: tuple[str, ...] = ("test",),
        *,
        record_known: bool = False,
        known_splits: tuple[str, ...] | None = None,
        stage: str = "eval",
    ) -> dict[str, float]:
        """Run every check on ``splits``. ``record_known`` records which facts the model knows, on every split
        (what a stage's training data needs) or on ``known_splits`` only."""
        ctx = self._context(splits, record_known, stage, known_splits)
        out: dict[str, float] = {}
        for c in self._checks:
            t = time.perf_counter()
            out |= c.run(model, ctx)
            self.seconds.setdefault(stage, {})[c.name] = round(time.perf_counter() - t, 2)
            log.info("check %s (%s) done in %.1f s", c.name, stage, self.seconds[stage][c.name])
        if record_known:
            self.known = ctx.known
        order = {name: i for i, name in enumerate(self.concept.fact_sets)}
        return dict(sorted(out.items(), key=lambda kv: order.get(kv[0].split(".")[0], len(order))))


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
    """:func:`format_table` of a stack's stages (``{"name", "metrics"}``), repeated names numbered: the
    scorecard's rows first (against the first stage), then the headline metrics."""
    cols: dict[str, dict[str, float]] = {}
    for s in stages:
        name, n = s["name"], 2
        while name in cols:
            name, n = f"{s['name']}{n}", n + 1
        cols[name] = s["metrics"]
    first = next(iter(cols.values()))
    cards = {n: scorecard(m, first) for n, m in cols.items()}
    rows = [k for k in cards[next(iter(cards))] if all(k in c for c in cards.values())]
    cols = {n: {f"scorecard.{k}": v for k, v in cards[n].items()} | m for n, m in cols.items()}
    return format_table(cols, [f"scorecard.{k}" for k in rows] + (keys if keys is not None else headline_keys(first)))


def add_stages(prior: list[dict], before: dict, new: list[tuple[str, str, dict]]) -> list[dict]:
    """The stack's stages: earlier ones (or ``before`` for a fresh model), then ``(name, detail, metrics)``."""
    head = prior or [{"name": "before", "detail": "unedited", "metrics": before}]
    return head + [{"name": n, "detail": d, "metrics": m} for n, d, m in new]


def evaluate(model: HookedLM, concept: Concept, splits: tuple[str, ...] = ("validation", "test")) -> dict[str, float]:
    """Every metric of :class:`EvalSets` for ``model`` on ``concept`` (what ``mechunlearn evaluate`` prints)."""
    return EvalSets(concept).measure(model, splits, record_known=True)
