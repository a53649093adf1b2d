"""Caching benchmark: throughput against a bare forward pass, and peak memory as the corpus grows.

Usage: python bench/bench_caching.py [--model NAME] [--tokens 40000] [--scale 10] [--repeats 3]
e.g.   python bench/bench_caching.py --model gemma-3-270m --tokens 4000 --repeats 2

1. Throughput (one process, same model, same batches, alternating runs): a bare forward
   pass of the hooked model with no hooks (logits, as a user's forward); the same batches with
   per-neuron statistics of every layer's MLP streamed from hooks (mechunlearn's caching, which
   skips the LM head it does not need); and TransformerLens' ``run_with_cache`` collecting
   the same activations (``names_filter``). Ratios = bare time / other time.
2. Peak RSS: two fresh processes stream ``--tokens`` and ``--scale`` x as many tokens
   through the caching path (sentences generated lazily); peak RSS of each is compared.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time

import torch


def stream(model, concept, n_tokens):
    """Labelled probing sentences, cycled lazily until ``n_tokens`` tokens were produced."""
    from mechunlearn.concepts.labels import label_text

    done = 0
    for text in itertools.cycle(concept.concept_sentences + concept.other_sentences):
        for item in label_text(text, concept.keyword_pattern, model.tokenizer, model.n_ctx):
            if done >= n_tokens:
                return
            done += len(item.ids)
            yield item


def rss_child(model_name: str | None, n_tokens: int) -> None:
    from mechunlearn.activations.caching import NeuronStats, run_and_cache
    from mechunlearn.concepts.folders import load_concept
    from mechunlearn.models import load_model

    model, concept = load_model(model_name, device="cpu"), load_concept("harry_potter")
    hooks = [model.mlp_hook(i) for i in range(model.n_layers)]
    stats = NeuronStats(hooks, model.d_mlp)
    t = time.perf_counter()
    run_and_cache(model, stream(model, concept, n_tokens), hooks, [stats], batch_size=32, progress=False)
    print(
        json.dumps(
            {
                "tokens": n_tokens,
                "seconds": time.perf_counter() - t,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "counted_tokens": int(stats.count.sum()),
            }
        )
    )


@torch.no_grad()
def throughput(model_name: str | None, n_tokens: int, repeats: int = 3) -> dict:
    from mechunlearn.activations.caching import NeuronStats, run_and_cache, token_batches
    from mechunlearn.concepts.folders import load_concept
    from mechunlearn.models import load_model

    torch.manual_seed(0)
    model, concept = load_model(model_name, device="cpu"), load_concept("harry_potter")
    items = list(stream(model, concept, n_tokens))
    pad = model.tokenizer.pad_token_id
    batches = list(token_batches(items, 32, pad))
    hooks = [model.mlp_hook(i) for i in range(model.n_layers)]

    def bare():
        for ids, mask, _ in batches:
            model.logits(ids, mask)

    def cached():
        run_and_cache(model, items, hooks, [NeuronStats(hooks, model.d_mlp)], batch_size=32, progress=False)

    wanted = set(hooks)

    def tl_run_with_cache():
        for ids, mask, _ in batches:
            model.bridge.run_with_cache(ids, attention_mask=mask, names_filter=lambda n: n in wanted)

    runs = {"bare": bare, "caching": cached, "tl_run_with_cache": tl_run_with_cache}
    for fn in runs.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):  # alternate so drifting machine load hits all alike
        for name, fn in runs.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    tokens = sum(int(m.sum()) for _, m, _ in batches)
    best = {k: min(v) for k, v in times.items()}
    return {
        "model": model.name,
        "tokens": tokens,
        **{f"{k}_s": v for k, v in best.items()},
        **{f"{k}_tok_per_s": tokens / v for k, v in best.items()},
        "caching_vs_bare": best["bare"] / best["caching"],
        "tl_vs_bare": best["bare"] / best["tl_run_with_cache"],
        "caching_vs_tl": best["tl_run_with_cache"] / best["caching"],
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=None, help="model name or folder [default: the bundled model]")
    p.add_argument("--tokens", type=int, default=40000)
    p.add_argument("--scale", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        rss_child(a.model, a.child)
        return
    from mechunlearn.core.versions import library_versions

    torch.set_num_threads(2)
    res = {"throughput": throughput(a.model, a.tokens, a.repeats)}
    runs = []
    model_arg = ["--model", a.model] if a.model else []
    for n in (a.tokens, a.tokens * a.scale):
        cmd = [sys.executable, __file__, *model_arg, "--child", str(n)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    res["rss"] = runs
    res["rss_growth"] = runs[1]["peak_rss_mb"] / runs[0]["peak_rss_mb"] - 1
    res["versions"] = library_versions()
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
