"""Tune gradient unlearning on the validation split: one process, the model loaded once, every
configuration trained from the same start with the retain budget checked during training.

Usage (long on real models: run it in the background; it resumes where it stopped):
    nohup .venv/bin/python bench/tune_unlearn.py --model gemma-3-270m \\
        'method=rmu lr=1e-4 steps=150' 'method=simnpo lr=3e-5 forget_kind=all' > bench/tune.log 2>&1 &
    .venv/bin/python bench/tune_unlearn.py --model gemma-3-270m --table

A configuration is ``KEY=VALUE`` words: ``method``, ``forget_kind`` (facts|passages|all),
``localize`` (top-K neurons of the stored attribution ranking), ``eval_every``, ``max_retain_drop``,
and any option of the method (``lr``, ``steps``, ``batch_size``, ``beta``, ``alpha``, ...). Every
budget check records, on the **validation** split only: the budget's retain loss (known retain facts'
kept probability, retain-passage loss rise), the natural set's concept and other MC (all facts and
the known ones) and the retain perplexity ratio. The test split is never read. Records are appended
to ``bench/unlearn_tuning/<model>.jsonl``, one line per configuration.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from mechunlearn.concepts.folders import fact_split, load_concept
from mechunlearn.core.versions import library_versions
from mechunlearn.evaluation.budget import RetainBudget
from mechunlearn.evaluation.report import EvalSets
from mechunlearn.evaluation.scoring import score_facts
from mechunlearn.models import load_model
from mechunlearn.ranking.base import Ranking
from mechunlearn.training.data import UnlearnData, default_items
from mechunlearn.training.localize import intersect, localization
from mechunlearn.training.loop import TrainConfig, train
from mechunlearn.unlearning import make_method

RUN_KEYS = ("method", "forget_kind", "localize", "eval_every", "max_retain_drop")


def parse(words: str) -> dict:
    out = {}
    for w in words.split():
        k, v = w.split("=", 1)
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def key(cfg: dict) -> str:
    return " ".join(f"{k}={cfg[k]}" for k in sorted(cfg))


def validation_probe(concept, known):
    """Natural-set validation MC (concept / other, all and known) — the selection metric."""
    fs = concept.fact_sets["natural"]
    sides = {}
    for side in ("forget", "retain"):
        facts = fs.side(side)
        idx = [i for i in range(len(facts)) if fact_split(i) == "validation"]
        kn = set(known["natural"][side])
        sides[side] = ([facts[i] for i in idx], [j for j, i in enumerate(idx) if i in kn])

    def probe(model) -> dict[str, float]:
        out = {}
        for side, (facts, kn) in sides.items():
            s = score_facts(model, facts)
            name = "concept" if side == "forget" else "other"
            out[f"{name}_mc"] = sum(bool(x.mc) for x in s) / len(s)
            out[f"{name}_known_mc"] = sum(bool(s[j].mc) for j in kn) / max(1, len(kn))
        return out

    return probe


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--ranking", default=None, help="[default: probes/<model>/harry_potter/attribution]")
    ap.add_argument("--out", default=None, help="[default: bench/unlearn_tuning/<model>.jsonl]")
    ap.add_argument("--table", action="store_true")
    ap.add_argument("configs", nargs="*")
    a = ap.parse_args()
    out = Path(a.out or f"bench/unlearn_tuning/{a.model}.jsonl")
    done = {}
    if out.exists():
        done = {r["key"]: r for r in map(json.loads, out.read_text().splitlines())}
    if a.table:
        print(table(list(done.values())))
        return
    todo = [c for c in map(parse, a.configs) if key(c) not in done]
    if not todo:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    model = load_model(None if a.model == "bundled" else a.model, dtype=a.dtype)
    concept = load_concept("harry_potter")
    evals = EvalSets(concept)
    evals.measure(model, ("validation",), record_known=True)
    concept.known = evals.known
    probe = validation_probe(concept, concept.known)
    start = {k: v.detach().clone() for k, v in model.hf_state_dict().items()}
    base = probe(model)
    print("start (validation):", base, flush=True)
    for cfg in todo:
        run = {k: cfg[k] for k in RUN_KEYS if k in cfg}
        opts = {k: v for k, v in cfg.items() if k not in RUN_KEYS}
        method = make_method(run.get("method", "simnpo"), opts)
        data = UnlearnData(
            model,
            default_items(concept, "forget", run.get("forget_kind") or type(method).forget_kind),
            default_items(concept, "retain"),
        )
        record: dict = {"key": key(cfg), "config": cfg, "start": base, "versions": library_versions()}
        if "localize" in run:
            ranking = Ranking.load(a.ranking or f"probes/{model.name}/harry_potter/attribution")
            loc = intersect(localization(model, ranking, int(run["localize"])), method.trainable(model))
            params, masks = loc.params, loc.masks
        else:
            params, masks = method.trainable(model) or model.trainable_parameters(embeddings=False), None
        budget = RetainBudget(concept, concept.known, float(run.get("max_retain_drop", 0.03)))
        budget.calibrate(model)
        tcfg = TrainConfig.of(method, eval_every=run.get("eval_every"))
        t = time.perf_counter()
        res = train(model, method, data, tcfg, params, masks=masks, budget=budget, probe=probe)
        record |= {
            "wall_s": round(time.perf_counter() - t, 1),
            "stopped": res.stopped,
            "kept_step": res.kept_step,
            "checks": res.budget_checks,
            "curve": [{k: v for k, v in p.items() if k != "retain_validation"} for p in res.curve],
        }
        print(json.dumps({k: record[k] for k in ("key", "wall_s", "stopped")}), flush=True)
        for c in res.budget_checks:
            print("  ", c, flush=True)
        with out.open("a") as f:
            f.write(json.dumps(record) + "\n")
        with torch.no_grad():  # back to the start for the next configuration
            for k, v in model.hf_state_dict().items():
                v.copy_(start[k])


def table(records: list[dict], budget: float = 0.10) -> str:
    """Per configuration: what ``unlearn`` with ``budget`` would keep (the last check before the first one
    over it) and the last check."""
    lines = [
        "| configuration | check | concept MC (known) | other MC (known) | facts lost | ppl x |",
        "|---|---|---|---|---|---|",
    ]

    def cells(c: dict, s: dict) -> str:
        return (
            f"{s['concept_mc']:.2f} → {c['concept_mc']:.2f} ({c['concept_known_mc']:.2f}) | "
            f"{s['other_mc']:.2f} → {c['other_mc']:.2f} ({c['other_known_mc']:.2f}) | "
            f"{c['facts_lost']:.3f} | {c['ppl_ratio']:.2f}"
        )

    for r in records:
        checks, s = r["checks"], r["start"]
        if not checks:
            continue
        within = []
        for c in checks:  # unlearn stops at the first check over the budget
            if c["retain_loss"] > budget:
                break
            within.append(c)
        name = r["key"].replace("max_retain_drop=1 ", "")
        if within and within[-1] is not checks[-1]:
            lines.append(f"| {name} | step {within[-1]['step']} (last within {budget}) | {cells(within[-1], s)} |")
        elif not within:
            lines.append(f"| {name} | (first check over {budget}) | | | | |")
        lines.append(f"| {name} | step {checks[-1]['step']} (last) | {cells(checks[-1], s)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
