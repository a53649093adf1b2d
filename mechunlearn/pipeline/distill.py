"""``distill RUN --noise ALPHA``: UNDO (Lee et al. 2025, "Distillation Robustifies Unlearning", arXiv 2506.06278).

The run's model (its weights and edits) is the teacher; the student is the same weights shrunk and
perturbed towards noise by ``noise`` (:mod:`mechunlearn.training.noise`), trained in the one loop on
the ``distill`` objective to match the teacher's next-token distributions on retain and general text
(never on the concept's). Output-matching unlearning leaves the concept's latent capability in the
weights; a student that must relearn the teacher's behaviour from partly fresh weights does not
inherit what the teacher no longer shows. More noise costs more distillation and buys more
robustness to relearning: run ``--checks relearn`` (or ``all``) to measure it. Live edits of the
run (an SAE clamp, a guardrail) are distilled into the student's weights too; pruned neurons stay
in force. Writes a stage like ``unlearn --from RUN``: ``model/``, ``edits.json``, ``report.json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.runs import Timer
from mechunlearn.edits.base import is_live
from mechunlearn.evaluation.report import stage_table
from mechunlearn.pipeline.config import CheckOptions, JsonConfig
from mechunlearn.pipeline.stage import checked_concept, export_model, finish, new_run, stage_run
from mechunlearn.training.epochs import EpochConfig
from mechunlearn.training.loop import train_epochs


@dataclass
class DistillConfig(JsonConfig, CheckOptions):
    """Args:
    from_dir: the run to distil (its model is the teacher).
    concept: concept name or folder.
    noise: shrink-and-perturb fraction of the student's weight matrices (0: plain self-distillation).
    epochs, lr, batch_size, seed: the distillation (passes over the retain and general text).
    embeddings: also noise and train the token embedding / unembedding matrices.
    test_prompts, out, device, dtype: as elsewhere.
    """

    from_dir: str = ""
    concept: str = "harry_potter"
    noise: float = 0.1
    epochs: int = 2
    lr: float = 1e-4
    batch_size: int = 16
    seed: int = 0
    embeddings: bool = False
    test_prompts: list[str] = field(default_factory=list)
    out: str | None = None
    device: str | None = None
    dtype: str = "float32"
    model: None = None  # a distillation starts from a run, never from a bare model

    def __post_init__(self) -> None:
        if not self.from_dir:
            raise MechUnlearnError("give the run folder to distil (the output of prune, clamp, unlearn or guardrail)")
        if not 0.0 <= self.noise <= 1.0:
            raise MechUnlearnError(
                f"--noise must be a fraction in [0, 1] (0: no noise, 1: all noise), got {self.noise}"
            )
        if self.epochs < 1 or self.lr <= 0 or self.batch_size < 1:
            raise MechUnlearnError(
                "epochs and batch_size must be at least 1 and lr positive; "
                f"got {self.epochs}, {self.batch_size}, {self.lr}"
            )


def distill_texts(concept) -> list[str]:
    """Retain and general text: the retain passages that name no keyword, the other sentences, the
    retain facts written out (the training split only)."""
    passages = [t for t in concept.retain_split()[0] if not concept.mentions(t)]
    facts = [f"{f.prompt} {f.answer}" for f in concept.training_facts("retain")]
    return passages + list(concept.other_sentences) + facts


def distill_run(cfg: DistillConfig, *, print_fn=print) -> dict[str, Any]:
    out = new_run(cfg, "distill")
    concept = checked_concept(cfg.concept)
    timer = Timer()
    with stage_run(cfg, concept, out, cfg.to_dict() | {"out": str(out)}, timer) as run:
        from mechunlearn.edits import edit_from_dict

        model = run.model
        # neurons pruned by earlier stages are baked into the teacher's weights; noise would bring them
        # back, so they stay in force as hooks while the student trains (re-baked exactly on export)
        model.edits = [edit_from_dict(e) for e in run.in_force] + model.edits
        dropped = sorted({e.kind for e in model.edits if is_live(e)})
        ecfg = EpochConfig(epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed)
        options = {"drop_edits": dropped, "noise": cfg.noise, "noise_seed": cfg.seed}
        with timer("train"):
            result = train_epochs(model, "distill", distill_texts(concept), ecfg, bucket=True, options=options,
                                  embeddings=cfg.embeddings)  # fmt: skip
        after = run.measure("distilled")
        report: dict[str, Any] = {"before": run.before, "after": after}
        report["training"] = {
            "method": "distill",
            "noise": cfg.noise,
            "dropped_edits": dropped,
            "config": dataclasses.asdict(ecfg),
            "first_kl": result.first_loss,
            "last_kl": result.last_loss,
        } | {k: v for k, v in dataclasses.asdict(result).items() if k != "budget_checks"}
        report["model"] = {"name": model.name, "base": run.base_ref}
        report["test_prompts"] = [
            {"prompt": p, "before": b, "after": a}
            for p, b, a in zip(cfg.test_prompts, run.prompts_before, run.prompts(), strict=True)
        ]
        note = {"kind": "distill", "noise": cfg.noise}
        report["edit"] = export_model(run, f"UNDO distillation (noise {cfg.noise}) of {cfg.from_dir}\n", note) | note
        detail = f"UNDO: noise {cfg.noise}, {result.steps} steps of distillation"
        stages = finish(run, report, [("distilled", detail, after)], [], "model", report["edit"]["live_edits"])
    print_fn(stage_table(stages))
    print_fn(
        f"distilled into a student noised by {cfg.noise}: KL to the teacher {result.first_loss:.4f} -> "
        f"{result.last_loss:.4f} nats/token over {result.steps} steps, {result.wall_s:.0f} s"
    )
    print_fn(f"wrote {out}")
    return report
