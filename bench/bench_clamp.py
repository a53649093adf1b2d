"""SAE clamping benchmark on the bundled model: modes, values and ranking methods side by side.

Usage: python bench/bench_clamp.py [--sae saes/tiny-world-gpt2/blocks.2.hook_resid_pre]
       [--ks 32,128,512] [--out bench/clamp_sweep]

Every feature ranking method (and random features as a baseline) is combined with every
clamp setting (zero; negative x1, x2, x4; conditional fixed -10, -20, -50 where the feature
fires) for growing k; greedy forget / retain fact accuracy and retain perplexity are measured
through hooks in one process. Writes ``sweep.json`` and ``tradeoff.html``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SETTINGS = [
    ("zero", 0.0),
    ("negative", 1.0),
    ("negative", 2.0),
    ("negative", 4.0),
    ("conditional", 10.0),
    ("conditional", 20.0),
    ("conditional", 50.0),
]


def main() -> None:
    from mechunlearn.concepts.folders import load_concept
    from mechunlearn.core.versions import library_versions
    from mechunlearn.edits import SAEClamp
    from mechunlearn.evaluation.plots import tradeoff_figure, write_html
    from mechunlearn.evaluation.scoring import fact_accuracy, perplexity
    from mechunlearn.models import load_model
    from mechunlearn.ranking.base import FEATURE_RANKERS, Ranking
    from mechunlearn.ranking.sae_store import rank_features
    from mechunlearn.saes import load_sae

    p = argparse.ArgumentParser()
    p.add_argument("--sae", default="saes/tiny-world-gpt2/blocks.2.hook_resid_pre")
    p.add_argument("--ks", default="32,128,512")
    p.add_argument("--methods", default=",".join(sorted(FEATURE_RANKERS)))
    p.add_argument("--out", type=Path, default=Path("bench/clamp_sweep"))
    a = p.parse_args()
    ks = [int(k) for k in a.ks.split(",")]
    torch.manual_seed(0)
    model, concept = load_model(None, device="cpu"), load_concept("harry_potter")
    sae = load_sae(a.sae)
    store = Path(tempfile.mkdtemp())
    rankings, rank_seconds = {}, {}
    for method in a.methods.split(","):
        t = time.perf_counter()
        rankings[method], _ = rank_features(model, sae, a.sae, concept, method, store=store)
        rank_seconds[method] = round(time.perf_counter() - t, 2)
    rand = np.random.default_rng(0).random((1, int(sae.cfg.d_sae)))
    rankings["random"] = Ranking("random", rand, Ranking.order_from_scores(rand), {}, concept.name, unit="sae_feature")
    held = concept.retain_split()[1]

    def measure() -> dict[str, float]:
        return {
            "forget_fact_acc": fact_accuracy(model, concept.facts_forget),
            "retain_fact_acc": fact_accuracy(model, concept.facts_retain),
            "retain_ppl": perplexity(model, held),
        }

    base = measure()
    rows, curves = [], {}
    for mode, value in SETTINGS:
        for name, r in rankings.items():
            c = {"k": [], "forget_fact_acc": [], "retain_fact_acc": []}
            for k in ks:
                model.edits = [SAEClamp(a.sae, r.top_features(k), mode, value)]
                m = measure()
                model.edits = []
                rows.append({"method": name, "mode": mode, "value": value, "k": k, **m})
                c["k"].append(k)
                c["forget_fact_acc"].append(m["forget_fact_acc"])
                c["retain_fact_acc"].append(m["retain_fact_acc"])
                print(name, mode, value, k, {x: round(y, 3) for x, y in m.items()}, flush=True)
            if name == "sae-attribution" or mode == "negative" and value == 2.0:
                curves[f"{name} {mode} {value:g}"] = c
    a.out.mkdir(parents=True, exist_ok=True)
    result = {"sae": a.sae, "before": base, "rank_seconds": rank_seconds, "rows": rows}
    result["versions"] = library_versions()
    (a.out / "sweep.json").write_text(json.dumps(result, indent=1) + "\n")
    fig = tradeoff_figure(curves, base, "SAE feature clamping on tiny-world-gpt2 (features at blocks.2.hook_resid_pre)")
    fig.update_xaxes(title_text="features clamped (top-k, log scale)")
    write_html(fig, a.out / "tradeoff.html")


if __name__ == "__main__":
    main()
