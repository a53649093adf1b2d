"""``evaluate``: run the evaluation checks on a model, or on a run folder against its base model.

``--model M`` measures one model (recording which facts it knows). ``--run DIR`` measures the
run's base model and the run (its edits in force), on the facts the base model knew as the run
recorded them, so every check has its before and after and the scorecard its ratios. Runs of one
base model share that base stage: ``--base-from`` an earlier ``evaluate --run`` folder reuses its
figures when its base model, concept, checks (with their options), dtype and known facts are this
one's (one error naming what differs otherwise); the report says where they came from. The folder
written holds ``config.json``, ``run.log``, ``report.json`` (every metric, the scorecard, the
seconds each check took) and what the checks saw (``checks/``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mechunlearn.concepts.folders import load_concept
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import write_json
from mechunlearn.core.runs import default_out, run_folder
from mechunlearn.evaluation.report import EvalSets, known_counts, stage_table
from mechunlearn.evaluation.scorecard import scorecard
from mechunlearn.pipeline.config import CheckOptions, JsonConfig

SPLITS = ("validation", "test")


@dataclass
class EvaluateConfig(JsonConfig, CheckOptions):
    """Args:
    concept: concept name or folder.
    model: checkpoint folder, .gguf file, real model name or hub id (``None``: the bundled model).
    run: a prune / clamp / unlearn output folder, measured against its base model (instead of ``model``).
    base_from: with ``run``: an earlier ``evaluate --run`` folder of the same base model whose base stage is
        reused instead of measured again.
    out: new output folder (default ``runs/evaluate-<concept>-<time>``).
    device, dtype: as elsewhere.
    """

    concept: str = "harry_potter"
    model: str | None = None
    run: str | None = None
    base_from: str | None = None
    out: str | None = None
    device: str | None = None
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.model is not None and self.run is not None:
            raise MechUnlearnError("give either --model or --run, not both")
        if self.base_from is not None and self.run is None:
            raise MechUnlearnError("--base-from reuses the base stage of a run's evaluation: it needs --run")


def evaluate_job(cfg: EvaluateConfig, *, print_fn=print, as_json: bool = False) -> dict[str, Any]:
    from mechunlearn.edits.stack import load_model_or_run, load_stack, read_stack, root_base
    from mechunlearn.models.loading import load_model

    concept = load_concept(cfg.concept)
    _ = concept.fact_sets  # a malformed fact file fails before a model loads
    stack = read_stack(cfg.run) if cfg.run else None
    known = stack.get("known") if stack else None
    # unknown checks, options, or data a check needs: one error before any model loads
    evals = EvalSets(concept, known=known, checks=cfg.checks, check_options=cfg.check_options)
    out = Path(cfg.out) if cfg.out else default_out("evaluate", concept.name)
    with run_folder(out, cfg.to_dict() | {"out": str(out)}) as tmp:
        evals.out = tmp
        stages, seconds = [], {}
        if stack is not None:
            base = root_base(stack)  # the unedited model, also for a stage continued from a run's checkpoint
            targets = [
                ("base", lambda: load_model(None if base == "bundled" else base, device=cfg.device, dtype=cfg.dtype)),
                ("run", lambda: load_stack(cfg.run, device=cfg.device, dtype=cfg.dtype)[0]),
            ]
            if cfg.base_from:
                stages.append(reused_base_stage(Path(cfg.base_from), base_identity(cfg, concept, stack, evals.names)))
                evals.recall(stages[0]["metrics"])
                targets = targets[1:]
        else:
            targets = [("model", lambda: load_model_or_run(cfg.model, device=cfg.device, dtype=cfg.dtype))]
        for name, load in targets:
            model = load()
            t = time.perf_counter()
            # a model alone: its known facts on the splits reported (a stage's training would need train's too)
            metrics = evals.measure(model, SPLITS, record_known=evals.known is None, known_splits=SPLITS, stage=name)
            seconds[name] = round(time.perf_counter() - t, 2)
            stages.append({"name": name, "detail": model.name, "metrics": metrics})
            del model
        first = stages[0]["metrics"]
        report = {
            "checks": evals.names,
            "stages": stages,
            "scorecard": {s["name"]: scorecard(s["metrics"], first) for s in stages},
            "known": known_counts(evals.known or {}),
            "seconds": seconds,
            "check_seconds": evals.seconds,
            **({"base_from": cfg.base_from} if cfg.base_from else {}),
        }
        write_json(tmp / "report.json", report)
    if as_json:
        print_fn(json.dumps(report, indent=2))
    else:
        print_fn(stage_table(stages))
        print_fn(f"checks: {', '.join(evals.names)}; known facts: {json.dumps(report['known'])}")
        print_fn("evaluated in " + ", ".join(f"{n} {s:.1f} s" for n, s in seconds.items()))
        print_fn(f"wrote {out}")
    return report


def base_identity(cfg: EvaluateConfig, concept, stack: dict[str, Any], checks: list[str]) -> dict[str, Any]:
    """What a base stage's figures depend on, besides the code: compared before one is reused."""
    from mechunlearn.edits.stack import root_base

    return {
        "base model": root_base(stack),
        "concept": str(Path(concept.path).resolve()),
        "checks": checks,
        "check options": cfg.check_options or {},
        "dtype": cfg.dtype,
        "known facts": stack.get("known"),
    }


def reused_base_stage(folder: Path, identity: dict[str, Any]) -> dict[str, Any]:
    """The base stage of an earlier ``evaluate --run`` folder, after checking it measured the same thing."""
    from mechunlearn.edits.stack import read_stack
    from mechunlearn.evaluation.checks import make_checks

    not_one = MechUnlearnError(f"--base-from {folder}: not a finished `mechunlearn evaluate --run` folder")
    if not (folder / "config.json").is_file() or not (folder / "report.json").is_file():
        raise not_one
    earlier = EvaluateConfig.from_file(folder / "config.json")
    try:
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise MechUnlearnError(f"{folder / 'report.json'}:{e.lineno}: malformed JSON ({e.msg})") from e
    if earlier.run is None or report.get("stages", [{}])[0].get("name") != "base":
        raise not_one
    theirs = base_identity(
        earlier,
        load_concept(earlier.concept),
        read_stack(earlier.run),
        [c.name for c in make_checks(earlier.checks, earlier.check_options)],
    )
    differ = [k for k in identity if identity[k] != theirs[k]]
    if differ:
        raise MechUnlearnError(
            f"--base-from {folder} measured another base stage: its {', '.join(differ)} "
            f"({'; '.join(str(theirs[k]) for k in differ)}) differ from this run's "
            f"({'; '.join(str(identity[k]) for k in differ)})"
        )
    return report["stages"][0]
