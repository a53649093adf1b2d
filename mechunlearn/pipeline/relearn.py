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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mechunlearn.concepts.folders import load_concept
from mechunlearn.core.config_types import check_choices
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import write_json
from mechunlearn.core.runs import Timer, default_out, run_folder
from mechunlearn.edits.stack import load_stack, read_stack
from mechunlearn.evaluation.checks.relearn import AttackConfig, fact_halves, relearn_attack
from mechunlearn.unlearning import make_method

log = logging.getLogger("mechunlearn.relearn")


@dataclass
class RelearnConfig(AttackConfig):
    """Args:
    run_dir: a prune / clamp / unlearn output folder.
    steps, lr, batch_size, split, train_embeddings, seed: the attack
        (:class:`~mechunlearn.evaluation.checks.relearn.AttackConfig`).
    out, device, dtype: as elsewhere.
    """

    run_dir: str = ""
    out: str | None = None
    device: str | None = None
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_choices(self, "relearn option")
        if not self.run_dir:
            raise MechUnlearnError("give the run folder to attack (a prune / clamp / unlearn output)")
        self.lr = [self.lr] if isinstance(self.lr, int | float) else list(self.lr)
        if not self.lr:
            raise MechUnlearnError("give at least one --lr")
        for lr in self.lr:  # validates them
            make_method("sft", {"steps": self.steps, "lr": lr, "batch_size": self.batch_size})


def relearn(cfg: RelearnConfig, *, print_fn=print) -> dict[str, Any]:
    """Run the attack on ``cfg.run_dir`` (its edits in force) and write its own report folder."""
    stack = read_stack(cfg.run_dir)
    concept = load_concept(run_concept(Path(cfg.run_dir)))
    out = Path(cfg.out) if cfg.out else default_out("relearn", Path(cfg.run_dir).name)
    timer = Timer()
    with timer("load"):
        model, _ = load_stack(cfg.run_dir, device=cfg.device, dtype=cfg.dtype)
    train_facts, test_facts = fact_halves(concept, stack["known"], cfg.split)
    with run_folder(out, dataclasses.asdict(cfg) | {"out": str(out), "concept": concept.name}) as tmp:
        res = relearn_attack(model, train_facts, test_facts, cfg, timer)
        before, after, recovery = res["before"], res["after"], res["recovery"]
        report = {
            "run_dir": cfg.run_dir,
            "trained_on": len(train_facts),
            "measured_on": len(test_facts),
            "before_relearning": before,
            "after_relearning": after,
            "best_lr": res["best_lr"],
            "recovery": recovery,
            "attempts": res["attempts"],
            "timing": timer.seconds,
        }
        write_json(tmp / "report.json", report)
        log.info("report: %s", report)
    rec = "n/a (nothing was forgotten)" if recovery is None else f"{recovery:.0%}"
    print_fn(
        f"relearned on {len(train_facts)} known forget facts for {cfg.steps} steps (best of lr "
        f"{', '.join(f'{lr:g}' for lr in cfg.lr)}: {res['best_lr']:g}); on the other {len(test_facts)}: "
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
