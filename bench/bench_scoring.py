"""Fact scoring: the batched path against the KV-shared path it replaced, same model, same facts.

Usage:
    .venv/bin/python bench/bench_scoring.py --model gemma-3-270m     # 15-30 min on 2 CPU cores
    .venv/bin/python bench/bench_scoring.py --model gemma-3-270m --set natural --repeats 1
    .venv/bin/python bench/bench_scoring.py --model bundled

Until commit "evaluation: batched prompt+option scoring", a fact's prompt ran once and its
choices ran on copies of the prompt's KV cache (``kv_shared`` below, kept here as the
reference it was). transformers 5.25 changed how a cache comes back from a forward, and that
path then scored every option without its prompt. ``batched`` is today's
:func:`mechunlearn.evaluation.option_logprobs` without its self-check; ``with_self_check`` is
the function as the library calls it. Every fact of every set of the concept (the ``measure``
of a report's first stage) is scored by each path, alternating, ``--repeats`` times; the summary
has seconds per path, the largest log-prob difference between paths and each path's MC accuracy
on the concept's natural set. Written to ``bench/scoring/<model>-transformers-<version>[-<set>].json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@torch.no_grad()
def kv_shared(model, prompts, options, batch_size=16):
    """The path the library used up to transformers 5.23: prompt once, options on copies of its KV cache."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out = [[] for _ in prompts]
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        ids, mask = model.pad([prompts[i] for i in idx], side="left")
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        rows = [r for r, i in enumerate(idx) for _ in options[i]]
        flat = [o for i in idx for o in options[i]]
        width = max(len(o) for o in flat)
        cont = torch.full((len(flat), width), model.tokenizer.pad_token_id or 0, dtype=torch.long)
        cmask = torch.zeros((len(flat), width), dtype=torch.long)
        for r, o in enumerate(flat):
            cont[r, : len(o)], cmask[r, : len(o)] = torch.tensor(o), 1
        sel = torch.tensor(rows)
        with model.hooked():
            first = model.hf_model(
                input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1
            )
            cache = first.past_key_values
            cache.batch_select_indices(sel)
            pmask = mask[sel]
            rest = None
            if width > 1:
                rest = model.hf_model(
                    input_ids=cont[:, :-1],
                    attention_mask=torch.cat([pmask, cmask[:, :-1]], 1),
                    position_ids=pmask.sum(-1, keepdim=True) + torch.arange(width - 1)[None],
                    past_key_values=cache,
                    use_cache=False,
                ).logits.float()
        logits = first.logits[:, -1:].float()[sel]
        logits = logits if rest is None else torch.cat([logits, rest], 1)
        lp = logits.gather(-1, cont[..., None]).squeeze(-1) - logits.logsumexp(-1)
        hit = logits.argmax(-1) == cont
        real = cmask.bool()
        total, greedy = (lp * real).sum(-1).tolist(), (hit | ~real).all(-1).tolist()
        for r, row in enumerate(rows):
            out[idx[row]].append((total[r], greedy[r]))
    return out


def mc_accuracy(facts, scored):
    right = [max(range(len(s)), key=lambda j: s[j][0]) == f.right for f, s in zip(facts, scored, strict=True)]
    return sum(right) / len(right)


def main() -> None:
    from mechunlearn.concepts.folders import load_concept
    from mechunlearn.core.versions import library_versions
    from mechunlearn.evaluation import scoring as evaluation
    from mechunlearn.models import load_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--set", default=None, help="score only this fact set (e.g. natural); default: every set")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    model = load_model(None if args.model == "bundled" else args.model, device="cpu")
    concept = load_concept("harry_potter")
    sets = {k: v for k, v in concept.fact_sets.items() if args.set in (None, k)}
    facts = [f for fs in sets.values() for side in ("forget", "retain") for f in fs.side(side)]
    natural = concept.fact_sets["natural"].forget
    prompts = [model.encode(f.prompt) for f in facts]
    options = [[model.encode_continuation(o) for o in (f.choices or (f.answer,))] for f in facts]
    paths = {
        "kv_shared": lambda: kv_shared(model, prompts, options),
        "batched": lambda: evaluation._batched_option_logprobs(
            model, options, evaluation._rows(model, prompts, options), 16
        ),
        "with_self_check": lambda: evaluation.option_logprobs(model, prompts, options),
    }
    seconds = {k: [] for k in paths}
    results = {}
    for _ in range(args.repeats):
        for name, fn in paths.items():
            t = time.perf_counter()
            try:
                results[name] = fn()
            except evaluation.SelfCheckFailed as e:
                results[name] = str(e)
            seconds[name].append(round(time.perf_counter() - t, 2))
    n_nat = len(natural)
    start = next(i for i, f in enumerate(facts) if f is natural[0])
    summary = {
        "command": f"python bench/bench_scoring.py --model {args.model} --repeats {args.repeats}"
        + (f" --set {args.set}" if args.set else ""),
        "fact_sets": list(sets),
        "model": model.name,
        "versions": library_versions(),
        "facts": len(facts),
        "options": sum(len(o) for o in options),
        "seconds": {k: min(v) for k, v in seconds.items()},
        "all_seconds": seconds,
    }
    ok = {k: v for k, v in results.items() if not isinstance(v, str)}
    summary["errors"] = {k: v for k, v in results.items() if isinstance(v, str)}
    summary["natural_forget_mc"] = {k: mc_accuracy(natural, v[start : start + n_nat]) for k, v in ok.items()}
    if "kv_shared" in ok and "batched" in ok:
        diffs = [
            abs(a[0] - b[0])
            for ra, rb in zip(ok["kv_shared"], ok["batched"], strict=True)
            for a, b in zip(ra, rb, strict=True)
        ]
        summary["max_abs_logprob_difference_kv_shared_vs_batched"] = max(diffs)
    summary["speed_ratio_kv_shared_over_batched"] = round(
        summary["seconds"]["kv_shared"] / summary["seconds"]["batched"], 3
    )
    name = f"{args.model}-transformers-{summary['versions']['transformers']}" + (f"-{args.set}" if args.set else "")
    out = Path("bench/scoring") / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
