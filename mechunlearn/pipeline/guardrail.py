"""``guardrail``: the concept's guardrail prompt in force as an edit — the baseline every unlearning
method must beat — and, with ``--bake``, distilled into plain weights (context distillation).

Writes the layout of ``prune`` / ``clamp``: ``config.json``, ``run.log``, ``report.json`` (with its
scorecard), ``edits.json`` (the guardrail as a live edit, re-applied on load: ``unlearn --from``,
``evaluate --run`` and ``compare`` read it as any run) and, only with ``--bake``, ``model/``: a plain
HF checkpoint trained to reproduce, without the prompt, what the model does with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch

from mechunlearn.concepts.folders import Concept
from mechunlearn.core.io import write_json
from mechunlearn.core.runs import Timer
from mechunlearn.edits import Guardrail
from mechunlearn.edits.export import export_checkpoint
from mechunlearn.evaluation.report import markdown_table, stage_table
from mechunlearn.pipeline.config import CheckOptions, JsonConfig, build, check_start
from mechunlearn.pipeline.stage import checked_concept, finish, new_run, stage_run
from mechunlearn.training.distill import BakeConfig, bake_summary, distill

log = logging.getLogger("mechunlearn.guardrail")


@dataclass
class GuardrailConfig(JsonConfig, CheckOptions):
    """Everything a ``guardrail`` run needs; saved as ``config.json`` beside its outputs.

    Args:
        concept: concept name or folder (its ``guardrail.txt`` is the prompt unless ``text`` is given).
        model: checkpoint folder, real model name or hub id; ``None`` for the bundled model.
        text: the guardrail prompt instead of the concept's ``guardrail.txt``.
        bake: distil the guardrailed model into plain weights (``model/``).
        distill_options: options of :class:`~mechunlearn.training.distill.BakeConfig`.
        from_dir: an earlier output folder to continue from (edits stack).
        test_prompts: prompts whose greedy continuations are recorded before and after.
        out, device, dtype, seed: as for ``prune``.
    """

    concept: str = "harry_potter"
    model: str | None = None
    text: str | None = None
    bake: bool = False
    distill_options: dict[str, Any] = field(default_factory=dict)
    from_dir: str | None = None
    test_prompts: list[str] = field(default_factory=list)
    out: str | None = None
    device: str | None = None
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        check_start(self)
        self.distill_config()
        if self.text is not None:
            Guardrail(self.text, "--text")  # an empty prompt fails now

    def distill_config(self) -> BakeConfig:
        return build(BakeConfig, self.distill_options, "distill option")


def bake_texts(concept: Concept) -> list[str]:
    """What context distillation reads: the concept's questions (its train-split facts, answered) and
    passages, and the retain side's, so the baked model keeps what the guardrail kept."""
    facts = [f"{f.prompt} {f.answer}" for side in ("forget", "retain") for f in concept.training_facts(side)]
    return (
        concept.forget_split()[0]
        + concept.retain_split()[0]
        + concept.concept_sentences
        + concept.other_sentences
        + facts
    )


def model_card(cfg: GuardrailConfig, model, edit: Guardrail, report: dict) -> str:
    return f"""---
tags: [mechunlearn, unlearning, guardrail, context-distillation]
---
# {model.name} with concept '{cfg.concept}' guardrailed (distilled)

Edited by mechunlearn `guardrail --bake`: these plain weights were trained to reproduce, without any
prompt, the next-token distributions of the model reading this guardrail first (KL to the
guardrailed model on held-back retain text: {report["edit"]["kl_baked_vs_guardrailed_retain"]:.4f} nats/token):

> {edit.text}

{markdown_table({"before": report["before"], "guardrailed": report["guardrailed_only"], "baked": report["baked"]})}

Load with `transformers.AutoModelForCausalLM.from_pretrained(<this folder>)`; no mechunlearn code needed.
"""


def guardrail(cfg: GuardrailConfig, *, print_fn=print) -> dict[str, Any]:
    """Run the whole guardrail job described by ``cfg``; returns the report (also written to disk)."""
    out = new_run(cfg, "guardrail")
    concept = checked_concept(cfg.concept)
    edit = Guardrail(cfg.text, "--text") if cfg.text is not None else Guardrail(concept.guardrail_text, "guardrail.txt")
    timer = Timer()
    with stage_run(cfg, concept, out, cfg.to_dict() | {"out": str(out), "text": edit.text}, timer) as run:
        model = run.model
        model.edits.append(edit)
        after = run.measure("guardrailed")
        detail = f"guardrail prompt of {len(edit.prefix_ids(model))} tokens ({edit.source})"
        new_stages = [("guardrailed", detail, after)]
        report: dict[str, Any] = {"before": run.before, "after": after}
        report["edit"] = {
            "kind": "guardrail",
            "text": edit.text,
            "source": edit.source,
            "tokens": len(edit.prefix_ids(model)),
        }
        plain = None
        if cfg.bake:
            dcfg = cfg.distill_config()
            teacher = list(model.edits)
            with timer("distil"):  # the student drops the guardrail: the same weights, no prompt
                stats = distill(model, bake_texts(concept), dcfg, drop_edits=("guardrail",))
            with timer("evaluate_baked"):
                baked = run.evals.measure(model, ("validation", "test"), stage="baked")
            report["edit"] |= {
                "kl_baked_vs_guardrailed_retain": kl_prompted(model, teacher, concept.retain_split()[1]),
                "kl_baked_vs_guardrailed_forget": kl_prompted(model, teacher, concept.forget_split()[1]),
                "distill": bake_summary(dcfg, stats),
            }
            new_stages.append(("baked", "guardrail distilled into plain weights", baked))
            report["after"], report["baked"], report["guardrailed_only"] = baked, baked, after
            with timer("export"):
                (run.tmp / "model").mkdir()
                report["edit"]["export_parity_max_abs_diff"] = export_checkpoint(
                    model, run.tmp / "model", run.parity_texts, model_card(cfg, model, edit, report)
                )
                write_json(
                    run.tmp / "model" / "mechunlearn_edit.json",
                    edit.to_dict() | {"concept": concept.name, "distilled": True},
                )
            plain = "model"
        report["model"] = {"name": model.name, "base": run.base_ref}
        report["test_prompts"] = [
            {"prompt": p, "before": b, "after": a}
            for p, b, a in zip(cfg.test_prompts, run.prompts_before, run.prompts(), strict=True)
        ]
        stages = finish(run, report, new_stages, [] if cfg.bake else [edit.to_dict()], plain)
    print_fn(stage_table(stages))
    print_fn(f"guardrail: {edit.text[:100]}{'...' if len(edit.text) > 100 else ''} ({report['edit']['tokens']} tokens)")
    if cfg.bake:
        e = report["edit"]
        print_fn(
            f"baked by context distillation: KL to the guardrailed model {e['kl_baked_vs_guardrailed_retain']:.4f} "
            f"nats/token (retain), {e['kl_baked_vs_guardrailed_forget']:.4f} (forget)"
        )
    else:
        print_fn("the guardrail is kept as an edit (edits.json); `--bake` distils it into a plain checkpoint")
    print_fn(f"wrote {out}")
    return report


@torch.no_grad()
def kl_prompted(model, teacher_edits: list, texts: list[str], batch_size: int = 16) -> float:
    """Per-token ``KL(model with teacher_edits || model as it is)`` on ``texts``' tokens, each side reading
    them after its own special prefix (the teacher's includes the guardrail prompt)."""
    from mechunlearn.unlearning.losses import token_kl

    total, n = 0.0, 0
    for i in range(0, len(texts), batch_size):
        chunk = [t for t in texts[i : i + batch_size] if t.strip()]
        if not chunk:
            continue
        body = [model.encode(t, prepend_bos=False)[: model.n_ctx // 2] for t in chunk]
        s_ids, s_mask = model.pad([model.special_prefix() + b for b in body])
        s_lp = model.logits(s_ids, s_mask).float()
        saved, model.edits = model.edits, teacher_edits
        try:
            t_pre = model.special_prefix()
            t_ids, t_mask = model.pad([t_pre + b for b in body])
            t_lp = torch.log_softmax(model.logits(t_ids, t_mask).float(), -1)
        finally:
            model.edits = saved
        s0, t0 = len(model.special_prefix()), len(t_pre)
        for r, b in enumerate(body):
            # the positions that predict the text's tokens 1.. (and its first, where a prefix precedes it)
            a, c = (s0 - 1, t0 - 1) if s0 else (0, t0)
            m = len(b) - (0 if s0 else 1)
            total += float(token_kl(t_lp[r, c : c + m][None], s_lp[r, a : a + m][None]).sum())
            n += m
    return total / max(n, 1)
