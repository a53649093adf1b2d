"""Pruning benchmark on the bundled model: each ranking method's forget/retain trade-off.

Usage: python bench/bench_prune.py [--ks 8,16,32,64,128,256,512] [--out bench/prune_sweep]

For every ranking method (and random neurons as a baseline) the top-k neurons are zero- and
mean-ablated through hooks for growing k, and fact accuracy on the forget and retain sets
is measured. Writes ``sweep.json`` and ``tradeoff.html`` (one plot, all methods).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    from mechunlearn.activations.caching import neuron_stats
    from mechunlearn.concepts.folders import load_concept
    from mechunlearn.core.versions import library_versions
    from mechunlearn.edits import NeuronAblation
    from mechunlearn.edits.neuron_ablation import mean_values
    from mechunlearn.evaluation.plots import tradeoff_figure, write_html
    from mechunlearn.evaluation.scoring import fact_accuracy
    from mechunlearn.models import load_model
    from mechunlearn.ranking import RANKERS, Ranking, rank
    from mechunlearn.ranking.data import probing_items

    p = argparse.ArgumentParser()
    p.add_argument("--ks", default="8,16,32,64,128,256,512")
    p.add_argument("--out", type=Path, default=Path("bench/prune_sweep"))
    p.add_argument("--ablations", default="zero,mean")
    a = p.parse_args()
    ks = [int(k) for k in a.ks.split(",")]
    torch.manual_seed(0)
    model, concept = load_model(None, device="cpu"), load_concept("harry_potter")
    means = neuron_stats(model, probing_items(model, concept), progress=False).overall_mean()
    rankings, rank_seconds = {}, {}
    store = Path(tempfile.mkdtemp())
    for method in sorted(RANKERS):
        t = time.perf_counter()
        rankings[method], _ = rank(model, concept, method, store=store)
        rank_seconds[method] = round(time.perf_counter() - t, 2)
    rng = np.random.default_rng(0)
    rand = rng.random((model.n_layers, model.d_mlp))
    rankings["random"] = Ranking("random", rand, Ranking.order_from_scores(rand), {}, concept.name)
    base = {
        "forget_fact_acc": fact_accuracy(model, concept.facts_forget),
        "retain_fact_acc": fact_accuracy(model, concept.facts_retain),
    }
    curves: dict[str, dict[str, list[float]]] = {}
    for ablation in a.ablations.split(","):
        for name, r in rankings.items():
            c = {"k": [], "forget_fact_acc": [], "retain_fact_acc": []}
            for k in ks:
                neurons = r.top(k)
                vals = mean_values(neurons, means) if ablation == "mean" else []
                model.edits = [NeuronAblation(neurons, ablation, vals)]
                c["k"].append(k)
                c["forget_fact_acc"].append(fact_accuracy(model, concept.facts_forget))
                c["retain_fact_acc"].append(fact_accuracy(model, concept.facts_retain))
                model.edits = []
                print(
                    f"{ablation:5s} {name:12s} k={k:4d} forget {c['forget_fact_acc'][-1]:.3f} "
                    f"retain {c['retain_fact_acc'][-1]:.3f}",
                    flush=True,
                )
            curves[f"{name} ({ablation})"] = c
    a.out.mkdir(parents=True, exist_ok=True)
    result = {
        "before": base,
        "rank_seconds": rank_seconds,
        "curves": curves,
        "probe_metrics": rankings["probe"].metrics,
        "versions": library_versions(),
    }
    (a.out / "sweep.json").write_text(json.dumps(result, indent=2))
    write_html(
        tradeoff_figure(curves, base, "Bundled model: fact accuracy as top-ranked MLP neurons are ablated"),
        a.out / "tradeoff.html",
    )
    result["ranking_time_vs_tokens"] = ranking_time_scaling(model, concept)
    (a.out / "sweep.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("before", "rank_seconds", "ranking_time_vs_tokens")}, indent=2))


def ranking_time_scaling(model, concept, factors=(1, 2, 4)) -> list[dict]:
    """Seconds to rank (probeless, probe) on the probing sentences repeated 1x, 2x, 4x."""
    import shutil

    from mechunlearn.concepts.folders import load_concept
    from mechunlearn.ranking import rank
    from mechunlearn.ranking.data import probing_items

    rows = []
    for f in factors:
        d = Path(tempfile.mkdtemp()) / concept.name
        shutil.copytree(concept.path, d)
        for name in ("concept.txt", "other.txt"):
            (d / name).write_text((d / name).read_text() * f)
        c = load_concept(d)
        tokens = sum(len(it.ids) for it in probing_items(model, c))
        row = {"factor": f, "tokens": tokens}
        for method in ("probeless", "probe"):
            t = time.perf_counter()
            rank(model, c, method, store=Path(tempfile.mkdtemp()), reuse=False)
            row[f"{method}_seconds"] = round(time.perf_counter() - t, 2)
        rows.append(row)
        print(row, flush=True)
    return rows


if __name__ == "__main__":
    main()
