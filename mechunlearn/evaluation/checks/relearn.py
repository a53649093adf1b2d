"""``relearn``: the relearning attack of Deeb & Roger 2024 ("Do unlearning methods remove information
from language model weights?", arXiv 2410.08827), as a check.

Fine-tune the model on one half of the concept's forget facts that the base model knew (prompt +
answer, edits in force), then measure the other half. Recovery is the share of the forgotten
knowledge that came back on the measured half: ``(known_relearned - known_now) / (1 - known_now)``
(the known subset is what the base model got right). As an attacker would, the attack is the best
of a few learning rates, each from the same weights; afterwards the model's weights are put back,
so a check never changes the model it measures. ``mechunlearn relearn`` runs the same attack on a
run folder with its own report. A model that still knows every measured fact (the base model, the
stage that records the known facts) has nothing to recover: no attack is run.

Metrics: ``relearn.known`` (measured half, now), ``relearn.after.known`` / ``.mc`` (after the
best attack), ``relearn.recovery``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import torch

from mechunlearn.concepts.folders import Fact, fact_split
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.evaluation.checks.base import Check, register_check
from mechunlearn.evaluation.scoring import score_facts, summarize

log = logging.getLogger(__name__)

Split = Literal["half", "train-test"]


@dataclass
class AttackConfig:
    """Args:
    steps, batch_size: the attacker's fine-tuning (AdamW on every weight but the token embeddings).
    lr: the learning rates tried, each from the same weights; the best (most facts back) counts.
    train_embeddings: also train the token embedding / unembedding (off, as in ``unlearn``: with a
        262k-token vocabulary, Adam's first steps move every row and damage what it should recover).
    split: ``half`` (alternate known forget facts: train on one, measure the other) or
        ``train-test`` (train on the train split's known facts, measure the test split's).
    seed: batch order.
    """

    steps: int = 20
    lr: list[float] = field(default_factory=lambda: [3e-6, 1e-5, 3e-5])
    batch_size: int = 8
    split: Split = "half"
    train_embeddings: bool = False
    seed: int = 0


def fact_halves(concept, known: dict, split: str) -> tuple[list[Fact], list[Fact]]:
    """(facts to relearn, facts to measure): the known forget facts of every set that is not a paraphrase."""
    train_half, test_half = [], []
    for name, fs in concept.fact_sets.items():
        if "paraphrased" in name:
            continue
        keep = sorted(set(known.get(name, {}).get("forget", [])))
        for j, i in enumerate(keep):
            if split == "half":
                (train_half if j % 2 == 0 else test_half).append(fs.forget[i])
            elif fact_split(i) in ("train", "validation"):
                train_half.append(fs.forget[i])
            else:
                test_half.append(fs.forget[i])
    return train_half, test_half


def accuracy(model, facts: list[Fact]) -> dict[str, float | None]:
    s = summarize(score_facts(model, facts))
    return {"n": int(s["n"]), "greedy": s["greedy"] or 0.0, "mc": s["mc"], "known": s["known"] or 0.0}


def relearn_attack(model, train_facts: list[Fact], test_facts: list[Fact], cfg: AttackConfig, timer=None) -> dict:
    """Run the attack at each of ``cfg.lr`` from the model's current weights; the weights are restored after.

    Returns ``before`` / ``after`` (the best attempt) accuracy on ``test_facts``, ``best_lr``,
    ``recovery`` (``None`` when nothing was forgotten) and every attempt.
    """
    from mechunlearn.training.data import UnlearnData
    from mechunlearn.training.loop import TrainConfig, train
    from mechunlearn.unlearning import make_method

    if not train_facts or not test_facts:
        raise MechUnlearnError("the base model knew too few forget facts to split them for relearning")
    torch.manual_seed(cfg.seed)
    before = accuracy(model, test_facts)
    params = model.trainable_parameters(embeddings=cfg.train_embeddings)
    start = [p.detach().clone() for p in params]
    attempts = []
    try:
        for lr in cfg.lr:
            with torch.no_grad():
                for p, w in zip(params, start, strict=True):
                    p.copy_(w)
            method = make_method("sft", {"steps": cfg.steps, "lr": lr, "batch_size": cfg.batch_size})
            data = UnlearnData(model, [], train_facts, seed=cfg.seed)
            tc = TrainConfig(steps=cfg.steps, lr=lr, batch_size=cfg.batch_size, seed=cfg.seed)
            if timer is not None:
                with timer(f"relearn_lr_{lr:g}"):
                    result = train(model, method, data, tc, params)
                    after = accuracy(model, test_facts)
            else:
                result = train(model, method, data, tc, params)
                after = accuracy(model, test_facts)
            log.info("relearning at lr %g: %s", lr, after)
            attempts.append(
                {"lr": lr, "after": after, "steps": result.steps, "tokens": result.tokens, "wall_s": result.wall_s}
            )
    finally:
        with torch.no_grad():
            for p, w in zip(params, start, strict=True):
                p.copy_(w)
    best = max(attempts, key=lambda a: a["after"]["known"])
    gap = 1.0 - before["known"]
    recovery = (best["after"]["known"] - before["known"]) / gap if gap > 1e-9 else None
    return {"before": before, "after": best["after"], "best_lr": best["lr"], "recovery": recovery, "attempts": attempts}


@register_check("relearn", AttackConfig)
class Relearn(Check):
    def missing(self, concept, ctx):
        if not any(f.choices or f.answer for fs in concept.fact_sets.values() for f in fs.forget):
            return "it needs forget facts"
        return None

    def run(self, model, ctx):
        if ctx.known is None:
            raise MechUnlearnError(
                "check 'relearn' needs the facts the base model knew: run it with the 'facts' check "
                "(or on a run folder, which records them)"
            )
        train_facts, test_facts = fact_halves(ctx.concept, ctx.known, self.cfg.split)
        if ctx.record_known:  # the base model: it knows all of them, nothing to recover
            now = accuracy(model, test_facts)
            return {"relearn.known": now["known"], "relearn.after.known": now["known"]}
        now = accuracy(model, test_facts)
        if now["known"] >= 1.0:  # nothing forgotten (e.g. `evaluate --run`'s base model): no attack
            return {"relearn.known": now["known"], "relearn.after.known": now["known"]}
        res = relearn_attack(model, train_facts, test_facts, self.cfg)
        ctx.write("relearn", res)
        out = {"relearn.known": res["before"]["known"], "relearn.after.known": res["after"]["known"]}
        if res["after"]["mc"] is not None:
            out["relearn.after.mc"] = res["after"]["mc"]
        if res["recovery"] is not None:
            out["relearn.recovery"] = res["recovery"]
        return out
