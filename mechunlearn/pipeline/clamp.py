"""``clamp``: rank a concept's SAE features, clamp them through hooks, keep or distil the edit.

Writes the same layout as ``prune``: ``report.json`` (same keys), ``ranking.html``,
``ranking/`` (with ``features.json``), ``config.json``, ``run.log`` and ``edits.json``;
``model/`` (a plain HF checkpoint) only with ``--bake``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import write_json
from mechunlearn.core.paths import home
from mechunlearn.core.runs import Timer
from mechunlearn.edits import SAEClamp
from mechunlearn.edits.export import export_checkpoint
from mechunlearn.evaluation.budget import choose_size
from mechunlearn.evaluation.plots import feature_ranking_figure, write_html
from mechunlearn.evaluation.report import markdown_table, stage_table
from mechunlearn.models.hooked import HookedLM, model_slug
from mechunlearn.pipeline.config import DEFAULT_CLAMP, DEFAULT_SAE_HOOK, ClampConfig
from mechunlearn.pipeline.stage import checked_concept, finish, new_run, stage_run
from mechunlearn.pipeline.start import load_start
from mechunlearn.ranking.base import FEATURE_RANKERS, Ranking
from mechunlearn.ranking.sae_store import (
    check_feature_ranking_matches,
    load_feature_table,
    rank_features,
)
from mechunlearn.saes.loading import check_sae_fits, load_sae, sae_reference
from mechunlearn.training.distill import bake_summary, distill, kl_between

log = logging.getLogger("mechunlearn.clamp")


def default_sae(model: HookedLM) -> str:
    """The SAE shipped for ``model`` in ``saes/<model>/<hook>/``, ``train-sae``'s default folder (the default hook's,
    or the only one). A folder named otherwise is a variant (``blocks.12.hook_resid_post-synth``), used only
    when ``--sae`` names it."""
    root = home() / "saes" / model_slug(model)
    found = sorted(p.parent for p in root.glob("*/cfg.json") if _reads_at(p) == p.parent.name) if root.is_dir() else []
    preferred = root / DEFAULT_SAE_HOOK
    if preferred in found:
        return sae_reference(preferred)
    if len(found) == 1:
        return sae_reference(found[0])
    raise MechUnlearnError(
        f"no SAE given and {'several' if found else 'none'} shipped for model '{model.name}' under {root}"
        + (f" ({[p.name for p in found]})" if found else "")
        + "; pass --sae RELEASE:ID or a folder, or train one with `mechunlearn train-sae`"
    )


def _reads_at(cfg_file: Path) -> str | None:
    """The hook an SAE folder's ``cfg.json`` says it reads (sae-lens 6 keeps it under ``metadata``)."""
    cfg = json.loads(cfg_file.read_text())
    return (cfg.get("metadata") or {}).get("hook_name", cfg.get("hook_name"))


def choose_clamp_k(
    model: HookedLM, concept, ranking: Ranking, sae_ref: str, cfg: ClampConfig, k_max: int
) -> tuple[int, dict]:
    """The largest number of top features up to ``k_max`` within the retain budget on validation data."""

    def edit(k: int) -> SAEClamp:
        return SAEClamp(sae_ref, ranking.top_features(k), cfg.mode, cfg.clamp_value, cfg.value_kind, cfg.threshold)

    return choose_size(model, concept, cfg.max_retain_drop, k_max, edit, "SAE features")


def model_card(cfg: ClampConfig, model: HookedLM, edit: SAEClamp, report: dict) -> str:
    b, a, k = report["before"], report["after"], report["baked"]
    return f"""---
tags: [mechunlearn, unlearning, sae-clamping, distillation]
---
# {model.name} with concept '{cfg.concept}' clamped (distilled)

Edited by mechunlearn `clamp --bake`: {len(edit.features)} features of the SAE `{edit.sae}` at
`{edit.hook}` were clamped ({edit.mode}, value {edit.value}, {edit.value_kind}), then these plain
weights were trained to reproduce the clamped model's next-token distributions
(KL to the clamped model on held-back retain text: {report["edit"]["kl_baked_vs_clamped_retain"]:.4f} nats/token).

{markdown_table({"before": b, "clamped": a, "baked": k})}

Load with `transformers.AutoModelForCausalLM.from_pretrained(<this folder>)`; no mechunlearn code needed.
"""


def clamp(cfg: ClampConfig, *, print_fn=print) -> dict[str, Any]:
    """Run the whole clamp job described by ``cfg``; returns the report (also written to disk)."""
    out = new_run(cfg, "clamp")
    if cfg.ranking is None and cfg.features is None:
        FEATURE_RANKERS.build_config(
            cfg.method, cfg.method_options
        )  # an unknown method or option fails before any work
    concept = checked_concept(cfg.concept)
    timer = Timer()
    with timer("load"):
        start = load_start(cfg)
        model = start.model
        sae_ref = sae_reference(cfg.sae) if cfg.sae else default_sae(model)
        sae = load_sae(sae_ref, device=model.device)
        hook = check_sae_fits(sae, model, sae_ref)
    d_sae = int(sae.cfg.d_sae)
    ranking_given = Ranking.load(cfg.ranking) if cfg.ranking else None
    if ranking_given is not None:
        check_feature_ranking_matches(ranking_given, sae, sae_ref)
    if cfg.features is not None:
        bad = [i for i in cfg.features if not 0 <= i < d_sae]
        if bad:
            raise MechUnlearnError(
                f"feature indices {bad[:10]} are outside the SAE's {d_sae} features (valid: 0..{d_sae - 1})"
            )
    k = len(cfg.features) if cfg.features is not None else (cfg.top_k or DEFAULT_CLAMP["top_k"])
    if k > d_sae:
        raise MechUnlearnError(f"top-k {k} is larger than the SAE's width ({d_sae} features)")
    full = cfg.to_dict() | {"out": str(out), "sae": sae_ref, "value": cfg.clamp_value}
    full["top_k"] = None if cfg.features is not None else k
    with stage_run(cfg, concept, out, full, timer, start) as run:
        tmp, evals = run.tmp, run.evals
        with timer("rank"):
            if ranking_given is not None:
                ranking, ranking_src, table = ranking_given, str(cfg.ranking), load_feature_table(Path(cfg.ranking))
            else:
                ranking, folder = rank_features(model, sae, sae_ref, concept, cfg.method, cfg.method_options)
                ranking_src, table = str(folder), load_feature_table(folder)
        budget_report = None
        if cfg.features is None and cfg.max_retain_drop is not None:
            with timer("budget"):
                k, budget_report = choose_clamp_k(model, concept, ranking, sae_ref, cfg, k)
        features = list(cfg.features) if cfg.features is not None else (ranking.top_features(k) if k else [])
        edit = SAEClamp(sae_ref, features, cfg.mode, cfg.clamp_value, cfg.value_kind, cfg.threshold)
        model.edits.append(edit)
        after = run.measure("after")
        detail = f"{len(features)} SAE features at {hook}, {cfg.mode} {cfg.clamp_value} ({edit.value_kind})"
        new_stages = [("clamped", detail, after)]
        report: dict[str, Any] = {"before": run.before, "after": after, "budget": budget_report}
        report["edit"] = {
            "kind": "sae_clamp",
            "sae": sae_ref,
            "hook": hook,
            "d_sae": d_sae,
            "method": ranking.method if cfg.features is None else "given",
            "mode": cfg.mode,
            "value": cfg.clamp_value,
            "value_kind": edit.value_kind,
            "threshold": cfg.threshold,
            "n_clamped": len(features),
            "features": features,
            "ranking": ranking_src,
            "ranking_metrics": ranking.metrics,
        }
        plain = None
        if cfg.bake:
            dcfg = cfg.distill_config()
            texts = (
                concept.forget_split()[0]
                + concept.retain_split()[0]
                + concept.concept_sentences
                + concept.other_sentences
            )
            teacher = list(model.edits)
            with timer("distil"):  # the student drops this clamp and any earlier ones
                stats = distill(model, texts, dcfg, drop_edits=("sae_clamp",))
            with timer("evaluate_baked"):
                baked = evals.measure(model, ("validation", "test"))
                saved, model.edits = model.edits, teacher
                try:
                    kl_retain = kl_between(model, saved, concept.retain_split()[1])
                    kl_forget = kl_between(model, saved, concept.forget_split()[1])
                finally:
                    model.edits = saved
            report["baked"] = baked
            report["edit"] |= {
                "kl_baked_vs_clamped_retain": kl_retain,
                "kl_baked_vs_clamped_forget": kl_forget,
                "distill": bake_summary(dcfg, stats),
            }
            new_stages.append(("baked", "clamp distilled into plain weights", baked))
            report["after"] = baked
            report["clamped_only"] = after
            with timer("export"):
                (tmp / "model").mkdir()
                parity = concept.retain_split()[1][:8] + concept.forget_split()[1][:8]
                report["edit"]["export_parity_max_abs_diff"] = export_checkpoint(
                    model, tmp / "model", parity, model_card(cfg, model, edit, report)
                )
                write_json(
                    tmp / "model" / "mechunlearn_edit.json",
                    edit.to_dict() | {"concept": concept.name, "distilled": True},
                )
            plain = "model"
        prompts_after = run.prompts()
        report["model"] = {
            "name": model.name,
            "base": run.base_ref,
            "fingerprint_before": ranking.model.get("fingerprint"),
        }
        report["test_prompts"] = [
            {"prompt": p, "before": b, "after": a}
            for p, b, a in zip(cfg.test_prompts, run.prompts_before, prompts_after, strict=True)
        ]
        with timer("plots"):
            write_html(
                feature_ranking_figure(ranking, table, top=40, clamped=len(features) if cfg.features is None else 0),
                tmp / "ranking.html",
            )
            ranking.save(tmp / "ranking")
            write_json(tmp / "ranking" / "features.json", table)
            report["top_units"] = [
                {k: r[k] for k in ("rank", "feature", "score", "freq_concept", "freq_other")} for r in table[:20]
            ]
        stages = finish(run, report, new_stages, [edit.to_dict()], plain)
    print_fn(stage_table(stages))
    print_fn(f"clamped {len(features)} SAE features at {hook} ({cfg.mode}, value {cfg.clamp_value})")
    if report["budget"] is not None:
        print_fn(f"budget: {report['budget']['reason']} (chose {k}; trials in report.json)")
    if cfg.bake:
        e = report["edit"]
        print_fn(
            f"baked by distillation: KL to the clamped model {e['kl_baked_vs_clamped_retain']:.4f} nats/token "
            "(retain), "
            f"{e['kl_baked_vs_clamped_forget']:.4f} (forget)"
        )
    else:
        print_fn("the clamp is kept as an edit (edits.json); `--bake` distils it into a plain checkpoint")
    print_fn(f"wrote {out}")
    return report
