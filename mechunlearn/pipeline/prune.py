"""``prune``: rank concept neurons, ablate them through hooks, optionally retrain, export.

One function call does what ``mechunlearn prune`` does, so notebooks and tests use the
same path as the CLI. Outputs (all in one new folder): ``model/`` (plain HF checkpoint
with a model card), ``report.json``, ``ranking.html``, ``ranking/``, ``config.json``,
``run.log``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from mechunlearn.activations.caching import neuron_stats
from mechunlearn.concepts.folders import Concept, load_concept
from mechunlearn.core.runs import Timer
from mechunlearn.edits import NeuronAblation, is_live
from mechunlearn.edits.neuron_ablation import mean_values
from mechunlearn.evaluation.budget import choose_size
from mechunlearn.evaluation.plots import ranking_figure, top_table, write_html
from mechunlearn.evaluation.report import markdown_table, stage_table
from mechunlearn.models import HookedLM, arch_spec
from mechunlearn.pipeline.config import PruneConfig
from mechunlearn.pipeline.stage import export_model, finish, new_run, stage_run
from mechunlearn.pipeline.start import load_start
from mechunlearn.ranking import Ranking, rank
from mechunlearn.ranking.base import RANKERS
from mechunlearn.ranking.data import probing_items
from mechunlearn.ranking.store import check_ranking_matches
from mechunlearn.training.retrain import filtered_retain_texts, retrain

log = logging.getLogger("mechunlearn.prune")


def resolve_concept(cfg: PruneConfig) -> Concept:
    """The concept with the config's keyword / probing-file overrides applied."""
    concept = load_concept(cfg.concept)
    if cfg.keywords:
        concept.keywords_override = list(cfg.keywords)
    if cfg.probing_tokens:
        concept.probing_pair = (Path(cfg.probing_tokens), Path(cfg.probing_labels))
    # Read every file now: a malformed file fails before any work or output.
    _ = (
        concept.keyword_pattern,
        concept.fact_sets,
        concept.forget_corpus,
        concept.retain_corpus,
        concept.concept_sentences,
        concept.other_sentences,
    )
    return concept


def get_ranking(model: HookedLM, concept: Concept, cfg: PruneConfig) -> tuple[Ranking, str]:
    if cfg.ranking:
        r = Ranking.load(cfg.ranking)
        check_ranking_matches(r, model)
        return r, str(cfg.ranking)
    r, folder = rank(model, concept, cfg.method, cfg.method_options)
    return r, str(folder)


def _fmt(x: float | None) -> str:
    return "not measured (continued from an edited stack)" if x is None else f"{x:.1e}"


def warn_if_little_known(concept: Concept, minimum: int = 10) -> None:
    """Rankings from facts the model does not know are noise: say so when it knows few."""
    n = len(concept.training_facts("forget", concept.known))
    if n < minimum:
        log.warning(
            "the model knows only %d of the concept's training-split forget facts; rankings read only "
            "known facts, so with so few they are noisy (add facts the model knows, phrased as it would)",
            n,
        )


def choose_top_k(
    model: HookedLM, concept: Concept, ranking: Ranking, cfg: PruneConfig, k_max: int
) -> tuple[int, dict[str, Any]]:
    """The largest top-k up to ``k_max`` within the retain budget on validation data."""
    mean = neuron_stats(model, probing_items(model, concept)).overall_mean() if cfg.ablation == "mean" else None

    def edit(k: int) -> NeuronAblation:
        neurons = ranking.top(k)
        return NeuronAblation(neurons, cfg.ablation, [] if mean is None else mean_values(neurons, mean))

    return choose_size(model, concept, cfg.max_retain_drop, k_max, edit, "neurons")


def model_card(cfg: PruneConfig, model: HookedLM, edit: NeuronAblation, report: dict) -> str:
    shown = ", ".join(f"L{n.layer}.{n.index}" for n in edit.neurons[:50])
    more = f" and {len(edit.neurons) - 50} more" if len(edit.neurons) > 50 else ""
    b, a = report["before"], report["after"]
    return f"""---
tags: [mechunlearn, unlearning, neuron-pruning]
---
# {model.name} with concept '{cfg.concept}' pruned

Edited by mechunlearn `prune`: the {len(edit.neurons)} MLP neurons ranked most relevant to the concept
by the `{cfg.method}` method were {edit.mode}-ablated and the ablation baked into the weights
(output projection rows/columns of those neurons zeroed{", mean folded into the bias" if edit.mode == "mean" else ""}).
{"The model was then retrained on concept-free retain data with the neurons held ablated." if cfg.retrain else ""}

Pruned neurons (layer.index in the MLP hidden space): {shown}{more}.

{markdown_table({"before": b, "after": a})}

Load with `transformers.AutoModelForCausalLM.from_pretrained(<this folder>)`; no mechunlearn code needed.
"""


def prune(cfg: PruneConfig, *, print_fn=print) -> dict[str, Any]:
    """Run the whole prune job described by ``cfg``; returns the report (also written to disk)."""
    out = new_run(cfg, "prune")
    if cfg.ranking:
        Ranking.load(cfg.ranking)  # a missing or broken ranking folder fails before any work
    else:
        RANKERS.build_config(cfg.method, cfg.method_options)  # so does an unknown method or option
    concept = resolve_concept(cfg)
    timer = Timer()
    with timer("load"):
        start = load_start(cfg)
    model = start.model
    arch_spec(model.model_type)  # an architecture whose neurons cannot be baked is refused before any work
    if cfg.ranking:
        check_ranking_matches(Ranking.load(cfg.ranking), model)  # a ranking of another model, too
    n_neurons = model.n_layers * model.d_mlp
    k_max = cfg.n_pruned(n_neurons)
    # record what was resolved at run time, so config.json reruns the same job even if defaults change
    full = cfg.to_dict() | {"out": str(out), "top_k": None if cfg.ratio is not None else k_max}
    with stage_run(cfg, concept, out, full, timer, start) as run:
        warn_if_little_known(concept)
        with timer("rank"):
            ranking, ranking_src = get_ranking(model, concept, cfg)
        budget_report = None
        k = k_max
        if cfg.max_retain_drop is not None:
            with timer("budget"):
                k, budget_report = choose_top_k(model, concept, ranking, cfg, k_max)
        neurons = ranking.top(k) if k else []
        values: list[float] = []
        if cfg.ablation == "mean" and neurons:
            with timer("mean_activations"):
                stats = neuron_stats(model, probing_items(model, concept))
                values = mean_values(neurons, stats.overall_mean())
        edit = NeuronAblation(neurons, cfg.ablation, values)
        model.edits.append(edit)
        after = run.measure("after")
        new_stages = [("pruned", f"{k} neurons, {cfg.ablation} ablation, ranked by {ranking.method}", after)]
        report: dict[str, Any] = {"before": run.before, "after": after, "budget": budget_report}
        if cfg.retrain:
            rcfg = cfg.retrain_config()
            with timer("retrain"):
                stats_r = retrain(model, filtered_retain_texts(concept), rcfg)
            retrained = run.measure("retrained")
            report["pruned_only"] = after
            report["after"] = retrained
            report["retrain"] = dataclasses.asdict(rcfg) | {"steps": stats_r.steps, "final_loss": stats_r.last_loss}
            new_stages.append(("retrained", "retrained", retrained))
        prompts_after = run.prompts()
        report["edit"] = {
            "method": ranking.method,
            "ablation": cfg.ablation,
            "n_pruned": k,
            "n_neurons": ranking.n_neurons,
            "neurons": [list(n) for n in neurons],
            "ranking": ranking_src,
            "ranking_metrics": ranking.metrics,
        }
        report["model"] = {"name": model.name, "fingerprint_before": ranking.model.get("fingerprint")}
        report["test_prompts"] = [
            {"prompt": p, "before": b, "after": a}
            for p, b, a in zip(cfg.test_prompts, run.prompts_before, prompts_after, strict=True)
        ]
        bakeable = not any(is_live(e) for e in model.edits)
        if bakeable:
            card = model_card(cfg, model, edit, report)
            report["edit"] |= export_model(run, card, edit.to_dict())
            run.in_force += [edit.to_dict()] if neurons else []
        else:
            log.info("the stack holds a live edit (SAE clamp, guardrail), which has no exact weights: no model/ export")
            report["edit"]["export_parity_max_abs_diff"] = None
            report["edit"]["bridge_vs_hf_float_noise"] = run.float_noise
        with timer("plots"):
            write_html(ranking_figure(ranking, top=40, pruned=k), run.tmp / "ranking.html")
            ranking.save(run.tmp / "ranking")
            report["top_units"] = top_table(ranking, 20)
        stage_list = finish(run, report, new_stages, [edit.to_dict()], "model" if bakeable else None)
    print_fn(stage_table(stage_list))
    e = report["edit"]
    print_fn(f"pruned {k} neurons ({cfg.ablation}, ranked by {ranking.method})")
    if report["budget"] is not None:
        print_fn(f"budget: {report['budget']['reason']} (chose {k} of at most {k_max})")
    if e["export_parity_max_abs_diff"] is None:
        print_fn("no plain checkpoint: the stack holds an SAE clamp (re-applied from edits.json on load)")
    else:
        print_fn(
            f"exported checkpoint vs hooked model: max |logit diff| {e['export_parity_max_abs_diff']:.1e} "
            f"(the edit itself moves logits by up to {e['edit_effect_max_abs_logit_diff']:.1e}; "
            f"fp32 floor, unedited bridge vs plain HF: {_fmt(e['bridge_vs_hf_float_noise'])})"
        )
    print_fn(f"wrote {out}")
    return report
