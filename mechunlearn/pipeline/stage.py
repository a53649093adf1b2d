"""The run skeleton every editing stage shares (``prune``, ``clamp``, ``unlearn``).

A stage run: resolve the start model (fresh, or an earlier output's stack with its edits in
force) -> record the known subset -> evaluate before -> *apply the stage* -> evaluate after
-> export -> write the folder (``config.json``, ``run.log``, ``report.json``,
``edits.json``, ``model/``). :func:`stage_run` does everything before the stage and
:func:`export_model` / :func:`finish` everything after; a stage is the code in between.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mechunlearn.concepts.folders import Concept
from mechunlearn.core.io import write_json
from mechunlearn.core.runs import Timer, run_folder
from mechunlearn.edits.base import is_live
from mechunlearn.edits.export import (
    bake_edits,
    bridge_float_noise,
    edit_effect,
    export_checkpoint,
    save_plain_checkpoint,
)
from mechunlearn.edits.stack import write_stack
from mechunlearn.evaluation.report import EvalSets, add_stages, known_counts
from mechunlearn.evaluation.scorecard import scorecard
from mechunlearn.evaluation.scoring import greedy_complete
from mechunlearn.models import HookedLM
from mechunlearn.pipeline.start import load_start

log = logging.getLogger("mechunlearn.stage")


@dataclass
class Run:
    """One stage run in progress: its model, data, measurements so far and staging folder."""

    cfg: Any
    concept: Concept
    model: HookedLM
    base_ref: str
    prior_edits: list[dict]
    prior_stages: list[dict]
    evals: EvalSets
    timer: Timer
    tmp: Path
    in_force: list[dict] = field(default_factory=list)  # baked edits later training keeps in force (stack)
    before: dict[str, float] = field(default_factory=dict)
    prompts_before: list[str] = field(default_factory=list)
    float_noise: float | None = None

    @property
    def parity_texts(self) -> list[str]:
        return self.concept.retain_split()[1][:8] + self.concept.forget_split()[1][:8]

    def measure(self, name: str) -> dict[str, float]:
        with self.timer(f"evaluate_{name}"):
            return self.evals.measure(self.model, ("validation", "test"), stage=name)

    def prompts(self) -> list[str]:
        return greedy_complete(self.model, self.cfg.test_prompts, 20) if self.cfg.test_prompts else []


def new_run(cfg, command: str) -> Path:
    """What every stage command does first: seed torch, and take ``cfg.out`` (default
    ``runs/<command>-<concept>-<time>``), refused if it exists."""
    import torch

    from mechunlearn.core.io import ensure_new_dir
    from mechunlearn.core.runs import default_out

    torch.manual_seed(cfg.seed)
    out = Path(cfg.out) if cfg.out else default_out(command, Path(cfg.concept).name)
    ensure_new_dir(out)
    return out


def checked_concept(name: str) -> Concept:
    """The concept, its fact sets and corpora read now: a malformed file fails before any model loads."""
    from mechunlearn.concepts.folders import load_concept

    concept = load_concept(name)
    _ = (concept.fact_sets, concept.forget_corpus, concept.retain_corpus)
    return concept


@contextlib.contextmanager
def stage_run(cfg, concept: Concept, out: Path, config: dict, timer: Timer, loaded=None) -> Iterator[Run]:
    """Load the start (or take ``loaded``, the tuple :func:`load_start` returns), stage ``out``, evaluate before."""
    if loaded is None:
        with timer("load"):
            loaded = load_start(cfg)
    model, base_ref, prior_edits, prior_stages, prior_known, in_force = loaded
    with run_folder(out, config) as tmp:
        evals = EvalSets(concept, known=prior_known, checks=cfg.checks, check_options=cfg.check_options, out=tmp)
        run = Run(cfg, concept, model, base_ref, prior_edits, prior_stages, evals, timer, tmp, list(in_force))
        run.float_noise = bridge_float_noise(model, run.parity_texts) if not model.edits else None
        with timer("evaluate_before"):
            run.before = run.evals.measure(
                model, ("validation", "test"), record_known=prior_known is None, stage="before"
            )
            run.prompts_before = run.prompts()
        concept.known = run.evals.known
        yield run


def export_model(run: Run, card: str, note: dict[str, Any]) -> dict[str, Any]:
    """Write ``model/``: weight edits baked, SAE clamps kept live (re-applied from ``edits.json``).

    Returns the export record: parity of the reloaded checkpoint against the hooked model (plain
    transformers when no clamp is live; else mechunlearn's loader with the clamps re-applied),
    how far the edits move logits, the unedited bridge-vs-HF floor, and the live edits.
    """
    model, tmp = run.model, run.tmp
    live = [e for e in model.edits if is_live(e)]
    rec: dict[str, Any] = {"bridge_vs_hf_float_noise": run.float_noise, "live_edits": [e.to_dict() for e in live]}
    with run.timer("export"):
        (tmp / "model").mkdir()
        rec["edit_effect_max_abs_logit_diff"] = edit_effect(model, run.parity_texts) if model.edits else 0.0
        if not live:
            rec["export_parity_max_abs_diff"] = export_checkpoint(model, tmp / "model", run.parity_texts, card)
        else:
            rec["export_parity_max_abs_diff"] = _export_with_live(model, tmp / "model", run.parity_texts, card, live)
        write_json(tmp / "model" / "mechunlearn_edit.json", note | {"concept": run.concept.name})
    return rec


def _export_with_live(model: HookedLM, out: Path, texts: list[str], card: str, live: list) -> float:
    import torch

    from mechunlearn.edits import edit_from_dict
    from mechunlearn.models import load_model

    ids, mask = model.pad([model.encode(t)[: model.n_ctx] for t in texts])
    with torch.no_grad():
        before = model.logits(ids, mask).float()
        model.edits = [e for e in model.edits if not is_live(e)]
        bake_edits(model)
        model.edits = live
        save_plain_checkpoint(model, out)
        model.tokenizer.save_pretrained(out)
        (out / "README.md").write_text(card, encoding="utf-8")
        again = load_model(out, device=model.device, dtype=str(model.hf_model.dtype).removeprefix("torch."))
        again.edits = [edit_from_dict(e.to_dict()) for e in live]
        after = again.logits(ids, mask).float()
    real = mask.bool()
    return float((before[real] - after[real]).abs().max())


def finish(
    run: Run,
    report: dict[str, Any],
    new_stages: list[tuple[str, str, dict]],
    new_edits: list[dict],
    plain: str | None,
    live: list[dict] | None = None,
) -> list[dict]:
    """Write ``edits.json`` and ``report.json`` (with ``stages``, ``known`` and timing); returns the stages."""
    stages = add_stages(run.prior_stages, run.before, new_stages)
    report["stages"] = stages
    report.setdefault("before", run.before)
    report["known"] = known_counts(run.evals.known)
    report["scorecard"] = {s["name"]: scorecard(s["metrics"], stages[0]["metrics"]) for s in stages}
    write_stack(run.tmp, run.base_ref, run.prior_edits + new_edits, plain, stages, run.evals.known, live, run.in_force)
    report["timing"] = run.timer.seconds | {"total": round(sum(run.timer.seconds.values()), 3)}
    write_json(run.tmp / "report.json", report)
    log.info("report: %s", report)
    return stages
