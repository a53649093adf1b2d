"""Caching benchmark: throughput against a bare forward pass, and peak memory as the corpus grows.

Usage: python bench/bench_caching.py [--tokens 40000] [--scale 10]

1. Throughput (one process, same model, same batches, alternating runs): a bare forward
   pass of the hooked model with no hooks, versus the same pass with per-neuron statistics
   of every layer's MLP streamed from hooks. Ratio = bare time / caching time.
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
    from mechunlearn.labels import label_text

    done = 0
    for text in itertools.cycle(concept.concept_sentences + concept.other_sentences):
        for item in label_text(text, concept.keyword_pattern, model.tokenizer, model.n_ctx):
            if done >= n_tokens:
                return
            done += len(item.ids)
            yield item


def rss_child(n_tokens: int) -> None:
    from mechunlearn.caching import NeuronStats, run_and_cache
    from mechunlearn.concepts import load_concept
    from mechunlearn.models import load_model

    model, concept = load_model(None, device="cpu"), load_concept("harry_potter")
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
def throughput(n_tokens: int, repeats: int = 3) -> dict:
    from mechunlearn.caching import NeuronStats, run_and_cache, token_batches
    from mechunlearn.concepts import load_concept
    from mechunlearn.models import load_model

    torch.manual_seed(0)
    model, concept = load_model(None, device="cpu"), load_concept("harry_potter")
    items = list(stream(model, concept, n_tokens))
    pad = model.tokenizer.pad_token_id
    batches = list(token_batches(items, 32, pad))
    hooks = [model.mlp_hook(i) for i in range(model.n_layers)]

    def bare():
        for ids, mask, _ in batches:
            model.logits(ids, mask)

    def cached():
        run_and_cache(model, items, hooks, [NeuronStats(hooks, model.d_mlp)], batch_size=32, progress=False)

    bare(), cached()  # warm-up
    t_bare, t_cache = [], []
    for _ in range(repeats):  # alternate so drifting machine load hits both alike
        t = time.perf_counter()
        bare()
        t_bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        cached()
        t_cache.append(time.perf_counter() - t)
    tokens = sum(int(m.sum()) for _, m, _ in batches)
    b, c = min(t_bare), min(t_cache)
    return {
        "tokens": tokens,
        "bare_forward_s": b,
        "caching_s": c,
        "bare_tok_per_s": tokens / b,
        "caching_tok_per_s": tokens / c,
        "throughput_ratio": b / c,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tokens", type=int, default=40000)
    p.add_argument("--scale", type=int, default=10)
    p.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        rss_child(a.child)
        return
    torch.set_num_threads(2)
    res = {"throughput": throughput(a.tokens)}
    runs = []
    for n in (a.tokens, a.tokens * a.scale):
        out = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    res["rss"] = runs
    res["rss_growth"] = runs[1]["peak_rss_mb"] / runs[0]["peak_rss_mb"] - 1
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
