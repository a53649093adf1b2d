"""``relearn``: the relearning attack of Deeb & Roger 2024 ("Do unlearning methods remove
information from language model weights?", arXiv 2410.08827) on an output folder.

Fine-tune the (unlearned) model on one half of the concept's forget facts — the ones the
base model knew, as prompt + answer, edits of the stack in force — then measure the other
half. Recovery is the share of the forgotten knowledge that came back on the measured half:
``(acc_relearned - acc_unlearned) / (acc_base - acc_unlearned)`` where acc_base = 1 (the
known subset is what the base model got right). Deeb & Roger find ~88% for most methods.

As an attacker would (and as Deeb & Roger report), the attack is the best of a few learning
rates, each from the same unlearned weights. One rate is not enough: the distractors of a
multiple-choice item are answers of other facts of the same concept, so fine-tuning on half of
them primes those names everywhere — one attack at lr 2e-5 lowered the measured half of a
SimNPO-unlearned gemma-3-270m from 0.881 to 0.814 (bench/RESULTS.md) — and a rate that teaches
one model damages another.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from mechunlearn.concepts.folders import Fact, fact_split, load_concept
from mechunlearn.core.config_types import check_choices
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import write_json
from mechunlearn.core.runs import Timer, default_out, run_folder
from mechunlearn.edits.stack import load_stack, read_stack
from mechunlearn.evaluation.scoring import score_facts, summarize
from mechunlearn.training.data import UnlearnData
from mechunlearn.training.loop import TrainConfig, train
from mechunlearn.unlearning import make_method

log = logging.getLogger("mechunlearn.relearn")

Split = Literal["half", "train-test"]


@dataclass
class RelearnConfig:
    """Args:
    run_dir: a prune / clamp / unlearn output folder.
    steps, batch_size: the attacker's fine-tuning (AdamW on every weight but the token embeddings).
    lr: the learning rates tried, each from the unlearned weights; the best (most facts back) counts.
    train_embeddings: also train the token embedding / unembedding (off, as in ``unlearn``: with a
        262k-token vocabulary, Adam's first steps move every row and damage what it should recover).
    split: ``half`` (alternate known forget facts: train on one, measure the other) or
        ``train-test`` (train on the train split's known facts, measure the test split's).
    out, device, dtype, seed: as elsewhere.
    """

    run_dir: str
    steps: int = 20
    lr: list[float] = field(default_factory=lambda: [3e-6, 1e-5, 3e-5])
    batch_size: int = 8
    split: Split = "half"
    train_embeddings: bool = False
    out: str | None = None
    device: str | None = None
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        check_choices(self, "relearn option")
        self.lr = [self.lr] if isinstance(self.lr, int | float) else list(self.lr)
        if not self.lr:
            raise MechUnlearnError("give at least one --lr")
        for lr in self.lr:  # validates them
            make_method("sft", {"steps": self.steps, "lr": lr, "batch_size": self.batch_size})


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


def _accuracy(model, facts: list[Fact]) -> dict[str, float]:
    s = summarize(score_facts(model, facts))
    return {"n": int(s["n"]), "greedy": s["greedy"] or 0.0, "mc": s["mc"], "known": s["known"] or 0.0}


def relearn(cfg: RelearnConfig, *, print_fn=print) -> dict[str, Any]:
    stack = read_stack(cfg.run_dir)
    if not stack.get("known"):
        raise MechUnlearnError(
            f"{cfg.run_dir}/edits.json records no known-fact subset; rerun the stage with this version"
        )
    concept = load_concept(run_concept(Path(cfg.run_dir)))
    out = Path(cfg.out) if cfg.out else default_out("relearn", Path(cfg.run_dir).name)
    timer = Timer()
    with timer("load"):
        model, _ = load_stack(cfg.run_dir, device=cfg.device, dtype=cfg.dtype)
    train_facts, test_facts = fact_halves(concept, stack["known"], cfg.split)
    if not train_facts or not test_facts:
        raise MechUnlearnError("the base model knew too few forget facts to split them for relearning")
    torch.manual_seed(cfg.seed)
    with run_folder(out, dataclasses.asdict(cfg) | {"out": str(out), "concept": concept.name}) as tmp:
        with timer("evaluate_before"):
            before = _accuracy(model, test_facts)
        params = model.trainable_parameters(embeddings=cfg.train_embeddings)
        start = [p.detach().clone() for p in params]
        attempts = []
        for lr in cfg.lr:
            with torch.no_grad():
                for p, w in zip(params, start, strict=True):
                    p.copy_(w)
            method = make_method("sft", {"steps": cfg.steps, "lr": lr, "batch_size": cfg.batch_size})
            data = UnlearnData(model, [], train_facts, seed=cfg.seed)
            with timer(f"relearn_lr_{lr:g}"):
                result = train(
                    model,
                    method,
                    data,
                    TrainConfig(steps=cfg.steps, lr=lr, batch_size=cfg.batch_size, seed=cfg.seed),
                    params,
                )
                after = _accuracy(model, test_facts)
            log.info("relearning at lr %g: %s", lr, after)
            attempts.append(
                {"lr": lr, "after": after, "steps": result.steps, "tokens": result.tokens, "wall_s": result.wall_s}
            )
        best = max(attempts, key=lambda a: a["after"]["known"])
        after = best["after"]
        gap = 1.0 - before["known"]
        recovery = (after["known"] - before["known"]) / gap if gap > 1e-9 else None
        report = {
            "run_dir": cfg.run_dir,
            "trained_on": len(train_facts),
            "measured_on": len(test_facts),
            "before_relearning": before,
            "after_relearning": after,
            "best_lr": best["lr"],
            "recovery": recovery,
            "attempts": attempts,
            "timing": timer.seconds,
        }
        write_json(tmp / "report.json", report)
        log.info("report: %s", report)
    rec = "n/a (nothing was forgotten)" if recovery is None else f"{recovery:.0%}"
    print_fn(
        f"relearned on {len(train_facts)} known forget facts for {cfg.steps} steps (best of lr "
        f"{', '.join(f'{lr:g}' for lr in cfg.lr)}: {best['lr']:g}); on the other {len(test_facts)}: "
        f"known {before['known']:.3f} -> {after['known']:.3f}"
        + (f", MC {before['mc']:.3f} -> {after['mc']:.3f}" if before["mc"] is not None else "")
        + f"; recovery of the forgotten share: {rec}"
    )
    print_fn(f"wrote {out}")
    return report


def run_concept(run_dir: Path) -> str:
    """The concept a run folder's ``config.json`` names: the facts relearning trains on and measures.

    Without it there is no telling which facts were unlearned, so a missing or unreadable file is an error.
    """
    import json

    path = run_dir / "config.json"
    if not path.is_file():
        raise MechUnlearnError(
            f"{path} is missing: relearn reads the run's concept from it; "
            "give a folder a stage wrote, with its config.json"
        )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise MechUnlearnError(f"{path} could not be read ({e}); relearn reads the run's concept from it") from e
    except json.JSONDecodeError as e:
        raise MechUnlearnError(
            f"{path}:{e.lineno}: malformed JSON ({e.msg}); relearn reads the run's concept from it"
        ) from e
    concept = config.get("concept") if isinstance(config, dict) else None
    if not isinstance(concept, str) or not concept:
        raise MechUnlearnError(f"{path} records no concept; relearn needs to know which concept the run unlearned")
    return concept
