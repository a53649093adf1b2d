"""Sampled generation speed: HF's sampling (a full vocabulary sort and an exponential draw per entry at
every step) against :class:`mechunlearn.models.generate.NucleusSampler` (the nucleus found and drawn
from among the top k), and the same sampler on a bfloat16 copy of the model (``mechunlearn synth
--dtype bfloat16``, what bench_frontier samples its corpus with), side by side in one run.

    .venv/bin/python bench/bench_sampling.py [--model gemma-3-270m] [--batch 32] [--tokens 48] [--repeats 2]

Both sample ``--batch`` continuations of ``--tokens`` new tokens of the synth corpus' first openings at
temperature 1.0, top-p 0.9 (``mechunlearn synth``'s settings), KV-cached, on the CPU (fp32 but the
last), the same batch (a run ends early only if every row ends). Writes
``bench/sampling/<model>.json``: tokens per second of each, their ratio, the settings and versions.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch

from mechunlearn.concepts.folders import load_concept
from mechunlearn.core.io import write_json
from mechunlearn.core.versions import library_versions
from mechunlearn.models.generate import generate_ids
from mechunlearn.models.loading import load_model
from mechunlearn.synth.corpus import concept_openings

HERE = Path(__file__).parent / "sampling"


def hf_top_p(model, prompts, tokens):
    """The same batches through HF's own temperature / top-p warpers."""
    seqs = [model.encode(p) for p in prompts]
    ids, mask = model.pad(seqs, side="left")
    with torch.no_grad(), model.hooked():
        model.hf_model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=tokens, do_sample=True,
            temperature=1.0, top_p=0.9, top_k=0, pad_token_id=model.tokenizer.eos_token_id, use_cache=True,
        )  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gemma-3-270m")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--tokens", type=int, default=48)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    model = load_model(a.model, device="cpu")
    half = load_model(a.model, device="cpu", dtype="bfloat16")
    concept = load_concept("harry_potter")
    prompts = [o["opening"] for o in concept_openings(concept, random.Random(0))][: a.batch]
    ours = {"max_new_tokens": a.tokens, "temperature": 1.0, "top_p": 0.9, "batch_size": a.batch, "seed": 0}
    seconds: dict[str, list[float]] = {"hf_top_p": [], "nucleus": [], "nucleus_bf16": []}
    for _ in range(a.repeats):
        for name, fn in (("hf_top_p", lambda: hf_top_p(model, prompts, a.tokens)),
                         ("nucleus", lambda: generate_ids(model, prompts, **ours)),
                         ("nucleus_bf16", lambda: generate_ids(half, prompts, **ours))):  # fmt: skip
            torch.manual_seed(0)
            t = time.perf_counter()
            fn()
            seconds[name].append(round(time.perf_counter() - t, 2))
    tps = {k: a.batch * a.tokens / min(v) for k, v in seconds.items()}
    record = {
        "command": f"python bench/bench_sampling.py --model {a.model} --batch {a.batch} --tokens {a.tokens}",
        "settings": vars(a)
        | {"temperature": 1.0, "top_p": 0.9, "dtype": "float32", "threads": torch.get_num_threads()},
        "seconds": seconds,
        "tokens_per_second": {k: round(v, 1) for k, v in tps.items()},
        "speedup": round(tps["nucleus"] / tps["hf_top_p"], 2),
        "bf16_over_fp32": round(tps["nucleus_bf16"] / tps["nucleus"], 2),
        "versions": library_versions(),
    }
    HERE.mkdir(exist_ok=True)
    write_json(HERE / f"{a.model}.json", record)
    print(record)


if __name__ == "__main__":
    main()
