"""``unlearn``: gradient unlearning on the hooked model, earlier edits in force, optionally
LoRA or localised to ranked units; then the same evaluation, export and stack as ``prune``.

Outputs (one new folder): ``model/`` (plain HF checkpoint with a model card), ``report.json``
(before/after, ``stages``, ``training`` with the curve), ``training.html``, ``config.json``,
``run.log``, ``edits.json``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
from typing import Any

import torch

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.runs import Timer
from mechunlearn.evaluation.budget import RetainBudget
from mechunlearn.evaluation.plots import training_figure, write_html
from mechunlearn.evaluation.report import markdown_table, stage_table
from mechunlearn.pipeline.stage import checked_concept, export_model, finish, new_run, stage_run
from mechunlearn.pipeline.unlearn_config import NAMED_DATA, RECIPE, UnlearnConfig, default_localize_k
from mechunlearn.ranking.base import Ranking
from mechunlearn.synth.entities import concept_names
from mechunlearn.synth.folder import synth_data
from mechunlearn.training.data import UnlearnData, default_items, read_data_file
from mechunlearn.training.localize import Localization, intersect, localization
from mechunlearn.training.loop import TrainConfig, train
from mechunlearn.training.lora import LoraSpec, add_lora, lora_parameters, lora_targets, merge_lora
from mechunlearn.unlearning import get_method

log = logging.getLogger("mechunlearn.unlearn")


def _ranking_for(cfg: UnlearnConfig, model, concept) -> tuple[Ranking, str]:
    if cfg.localize_from:
        return Ranking.load(cfg.localize_from), cfg.localize_from
    from mechunlearn.ranking import rank

    ranking, folder = rank(model, concept, cfg.localize_method, cfg.localize_options)
    return ranking, str(folder)


def _check_ranking(ranking: Ranking, model) -> None:
    if ranking.unit == "sae_feature":
        return
    if (ranking.n_layers, ranking.d_mlp) != (model.n_layers, model.d_mlp):
        raise MechUnlearnError(
            f"the ranking in --localize-from covers {ranking.n_layers} x {ranking.d_mlp} MLP neurons, "
            f"this model has {model.n_layers} x {model.d_mlp}: it ranks another model"
        )


def forget_probe(concept):
    """How much of the known forget facts of the validation split the model still holds (for the curve)."""
    from mechunlearn.evaluation.scoring import score_facts, summarize

    facts = concept.facts("forget", "validation", concept.known or {}, paraphrased=False)

    def probe(model) -> dict[str, float]:
        if not facts:
            return {}
        return {"forget_known_still": summarize(score_facts(model, facts))["known"]}

    return probe


def model_card(cfg: UnlearnConfig, model, report: dict) -> str:
    t = report["training"]
    how = (
        "LoRA adapters (merged)"
        if cfg.lora is not None
        else (
            f"updates localised to {t['localisation']['units']} ranked units"
            if t.get("localisation")
            else "all weights"
        )
    )
    live = report["edit"]["live_edits"]
    return f"""---
tags: [mechunlearn, unlearning, {cfg.method}]
---
# {model.name} with concept '{cfg.concept}' unlearned ({cfg.method})

Trained by mechunlearn `unlearn --method {cfg.method}` for {t["kept_step"]} steps ({how}; {t["params_updated"]:,}
weight entries could move), with the earlier edits of the stack in force and baked in.
{"SAE clamps are not in these weights: load the run folder with mechunlearn to re-apply them." if live else ""}

{markdown_table({"before": report["before"], "after": report["after"]})}

Load with `transformers.AutoModelForCausalLM.from_pretrained(<this folder>)`.
"""


def _device_for(cfg: UnlearnConfig) -> UnlearnConfig:
    """Under ``accelerate launch`` each process puts its copy on its own device."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from accelerate import PartialState

        return dataclasses.replace(cfg, device=str(PartialState(cpu=not torch.cuda.is_available()).device))
    return cfg


def _sampled(cfg: UnlearnConfig, forget: list) -> list:
    """``cfg.forget_sample`` of the forget examples, drawn with the run's seed (all of them without it)."""
    if cfg.forget_sample is None:
        return forget
    if cfg.forget_sample > len(forget):
        raise MechUnlearnError(
            f"--forget-sample {cfg.forget_sample} is more than the {len(forget)} forget examples; "
            f"valid: 1..{len(forget)}"
        )
    return random.Random(cfg.seed).sample(forget, cfg.forget_sample)


def _default_forget(cfg: UnlearnConfig, model, concept) -> list:
    """The forget data without ``--forget-data``: the model's own answers for a method that trains on them
    (relabel), else the concept's data of the resolved ``forget_kind``."""
    if get_method(cfg.method).forget_source == "synth_answers":
        return read_data_file(synth_data(model, concept, "answers"))
    return default_items(concept, "forget", cfg.forget_kind)


def unlearn(cfg: UnlearnConfig, *, print_fn=print) -> dict[str, Any]:
    """Run the whole unlearn job described by ``cfg``; returns the report (also written to disk)."""
    out = new_run(cfg, "unlearn")
    concept = checked_concept(cfg.concept)
    # 'synth' stands for the model's own corpus (mechunlearn synth), found once the model is loaded; 'default'
    # for the side's data without the option, added once the method's forget kind is resolved
    forget_items = [x for f in cfg.forget_data if f not in NAMED_DATA for x in read_data_file(f)]
    retain_items = [x for f in cfg.retain_data if f not in NAMED_DATA for x in read_data_file(f)]
    get_method(cfg.method or RECIPE.method).check_concept(concept)  # files the method needs (whp: anchors)
    names = concept_names(concept) if cfg.forget_tokens == "names" else None  # needs entities.txt: checked now
    ranking_given = Ranking.load(cfg.localize_from) if cfg.localize_from else None
    lora_spec = LoraSpec.parse(cfg.lora) if cfg.lora is not None else None
    timer = Timer()
    cfg = _device_for(cfg)
    from mechunlearn.pipeline.start import load_start

    with timer("load"):
        loaded = load_start(cfg)
    model = loaded[0]
    if "synth" in cfg.forget_data:
        forget_items += read_data_file(synth_data(model, concept, "forget"))
    if "synth" in cfg.retain_data:
        retain_items += read_data_file(synth_data(model, concept, "retain"))
    cfg = cfg.resolved(model)  # the default recipe, made explicit for config.json
    if "default" in cfg.forget_data or not cfg.forget_data:
        forget_items += _default_forget(cfg, model, concept)
    if "default" in cfg.retain_data or not cfg.retain_data:
        retain_items += default_items(concept, "retain")
    forget_items = _sampled(cfg, forget_items)  # a sample larger than the data is refused before any evaluation
    from mechunlearn.models import arch_spec

    arch_spec(model.model_type)  # an architecture without a neuron layout is refused before any work
    if lora_spec is not None:
        lora_targets(model, lora_spec)  # so is a LoRA target the model does not have
    if ranking_given is not None:
        _check_ranking(ranking_given, model)
        k = cfg.localize or default_localize_k(model)
        if k > ranking_given.n_neurons:
            raise MechUnlearnError(f"--localize {k} is outside 1..{ranking_given.n_neurons} (the ranking's units)")
    elif cfg.localize is not None and cfg.localize > model.n_layers * model.d_mlp:
        raise MechUnlearnError(
            f"--localize {cfg.localize} is larger than the model's {model.n_layers * model.d_mlp} MLP neurons"
        )
    with stage_run(cfg, concept, out, cfg.to_dict() | {"out": str(out)}, timer, loaded) as run:
        from mechunlearn.edits import edit_from_dict, is_live

        # neurons pruned by earlier stages are baked into the start weights; keep them in force as
        # hooks too, so training cannot bring them back (re-baking them at export is exact)
        model.edits = [edit_from_dict(e) for e in run.in_force] + model.edits
        run.in_force += [e.to_dict() for e in model.edits[len(run.in_force) :] if not is_live(e)]
        data = UnlearnData(
            model,
            forget_items,
            retain_items,
            max_len=cfg.max_len,
            seed=cfg.seed,
            forget_names=names,
        )
        method = cfg.make_method(len(data.forget), len(data.retain))
        m = method.cfg
        tcfg = TrainConfig.of(
            method,
            grad_accum=cfg.grad_accum,
            mixed_precision=cfg.mixed_precision,
            gradient_checkpointing=cfg.gradient_checkpointing,
            eval_every=cfg.eval_every,
            seed=cfg.seed,
        )
        loc: Localization | None = None
        peft_model = None
        if cfg.localize is not None or ranking_given is not None:
            with timer("rank"):
                ranking, ranking_src = (
                    (ranking_given, cfg.localize_from) if ranking_given else _ranking_for(cfg, model, concept)
                )
            k = cfg.localize or default_localize_k(model)
            loc = intersect(localization(model, ranking, k), method.trainable(model))
            loc.record["ranking"] = ranking_src
            params, masks = loc.params, loc.masks
        elif lora_spec is not None:
            peft_model = add_lora(model, lora_spec)
            allowed = method.trainable(model)
            params = lora_parameters(peft_model, allowed)
            masks = None
        else:
            params = method.trainable(model) or model.trainable_parameters(embeddings=cfg.train_embeddings)
            masks = None
        budget = None
        if cfg.max_retain_drop is not None:
            budget = RetainBudget(concept, concept.known, cfg.max_retain_drop)
            with timer("budget_calibrate"):
                budget.calibrate(model)
        with timer("train"):
            result = train(
                model,
                method,
                data,
                tcfg,
                params,
                masks=masks,
                budget=budget,
                lora=peft_model,
                probe=forget_probe(concept),
                concept=concept,
            )
        if peft_model is not None:
            merge_lora(model, peft_model)
        after = run.measure("after")
        unique = {t.data_ptr(): t.numel() for t in model.hf_state_dict().values()}  # tied weights once
        n_total = sum(unique.values())
        training = {
            "method": method.name,
            "method_config": dataclasses.asdict(m),
            "train_config": dataclasses.asdict(tcfg),
            "lora": dataclasses.asdict(lora_spec) if lora_spec else None,
            "localisation": loc.record if loc else None,
            "forget_examples": len(data.forget),
            "forget_passages_unnamed": data.unnamed,  # left out under --forget-tokens names
            "retain_examples": len(data.retain),
            "params_total": n_total,
        } | {k: v for k, v in dataclasses.asdict(result).items() if k != "budget_checks"}
        report: dict[str, Any] = {"before": run.before, "after": after, "training": training}
        report["budget"] = (
            None
            if budget is None
            else {
                "max_retain_drop": cfg.max_retain_drop,
                "validation_retain_facts": len(budget.facts),
                "checks": result.budget_checks,
                "reason": result.stopped,
            }
        )
        prompts_after = run.prompts()
        report["test_prompts"] = [
            {"prompt": p, "before": b, "after": a}
            for p, b, a in zip(cfg.test_prompts, run.prompts_before, prompts_after, strict=True)
        ]
        report["model"] = {"name": model.name, "base": run.base_ref}
        report["edit"] = export_model(run, "", {"kind": "unlearning", "method": method.name}) | {"kind": "unlearning"}
        (run.tmp / "model" / "README.md").write_text(model_card(cfg, model, report), encoding="utf-8")
        with timer("plots"):
            write_html(
                training_figure(
                    result.curve, f"{method.name} on {model.name}: concept '{concept.name}'", cfg.max_retain_drop
                ),
                run.tmp / "training.html",
            )
        detail = (
            f"{method.name}, {result.kept_step} steps"
            + (" (LoRA)" if lora_spec else "")
            + (f", localised to {loc.record['units']} units" if loc else "")
        )
        live = report["edit"]["live_edits"]
        stages = finish(run, report, [("unlearned", detail, after)], [], "model", live)
    print_fn(stage_table(stages))
    t = report["training"]
    print_fn(
        f"{method.name}: {t['kept_step']} of {t['steps']} steps kept, {t['tokens']:,} tokens, {t['wall_s']:.0f} s, "
        f"{t['params_updated']:,} of {t['params_total']:,} weights could move; peak memory {t['peak_memory_mb']:.0f} MB"
    )
    print_fn(f"training: {t['stopped']}")
    e = report["edit"]
    print_fn(
        f"exported checkpoint vs hooked model: max |logit diff| {e['export_parity_max_abs_diff']:.1e}"
        + (" (SAE clamps re-applied from edits.json)" if live else "")
    )
    print_fn(f"wrote {out}")
    return report
