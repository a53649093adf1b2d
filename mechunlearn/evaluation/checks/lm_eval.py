"""``lm_eval``: tasks of the lm-evaluation-harness (EleutherAI) run on the model with its edits in force.

The concept's multiple-choice fact sets, exported as lm-eval tasks (``mechunlearn export-tasks``;
the default), or any task lm-eval knows (``mmlu``, ``hellaswag``, ...: they download their data,
so they need the network). lm-eval is an optional extra (``pip install 'mechunlearn[lm-eval]'``),
imported only when this check runs; ``--checks all`` leaves it out. Metrics:
``lm_eval.{task}.{metric}`` (``acc``, ``acc_norm``, ... as each task reports them).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.evaluation.checks.base import Check, register_check
from mechunlearn.evaluation.lm_eval_tasks import export_tasks, run_lm_eval


@dataclass
class LMEvalConfig:
    """Args:
    tasks: lm-eval task names; ``concept`` stands for the concept's exported tasks (``None``: those alone).
    batch_size: requests per forward pass.
    limit: at most this many items per task (``None``: all).
    """

    tasks: list[str] | None = None
    batch_size: int = 16
    limit: int | None = None


@register_check("lm_eval", LMEvalConfig)
class LMEval(Check):
    in_all = False

    def run(self, model, ctx):
        prompted = [e.kind for e in model.edits if hasattr(e, "prefix_ids")]
        if prompted:  # HFLM tokenizes for itself: a prompt edit would silently not be in force
            raise MechUnlearnError(
                f"check 'lm_eval' cannot measure a model with a {prompted[0]} edit in force: lm-eval tokenizes its "
                "own prompts, so the guardrail would not be read; evaluate the baked checkpoint "
                "(`mechunlearn guardrail --bake`) instead"
            )
        with tempfile.TemporaryDirectory() as tmp:
            folder = (ctx.out / "lm_eval_tasks") if ctx.out is not None else Path(tmp)
            exported = export_tasks(ctx.concept, folder)
            tasks = [n for t in (self.cfg.tasks or ["concept"]) for n in (exported if t == "concept" else [t])]
            results = run_lm_eval(model, tasks, folder, self.cfg.batch_size, self.cfg.limit)
        ctx.write("lm_eval", results)
        return {f"lm_eval.{task}.{metric}": float(v) for task, res in results.items() for metric, v in res.items()}
