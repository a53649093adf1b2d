"""Text generation through the hooked model: KV-cached, batched, edits in force.

HF ``generate`` runs on the wrapped module: the bridge's components sit inside it, so the edits'
hooks fire on every generated token, and a prompt edit (a guardrail) is part of every prompt's
tokens (:meth:`HookedLM.encode`). Greedy (``temperature=0``) or sampled (temperature, nucleus
``top_p``), seeded: the same seed and prompts give the same texts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import torch

from mechunlearn.models.hooked import HookedLM


def _how(model: HookedLM, temperature: float, top_p: float) -> dict:
    """HF ``generate``'s decoding arguments: greedy at temperature 0, else nucleus sampling (no top-k)."""
    tok = model.tokenizer
    how = (
        {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0}
        if temperature > 0
        else {"do_sample": False}
    )
    return {
        "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        "use_cache": True,
        **how,
    }


@torch.no_grad()
def generate_ids(
    model: HookedLM,
    prompts: Sequence[str],
    max_new_tokens: int,
    *,
    temperature: float = 0.0,
    top_p: float = 1.0,
    batch_size: int = 16,
    seed: int | None = None,
) -> list[tuple[list[int], list[int]]]:
    """``(prompt ids, new ids)`` per prompt: left-padded batches of ``batch_size``, new tokens up to and
    including the first EOS. Sampling draws from a generator seeded with ``seed`` once per call."""
    tok, out = model.tokenizer, []
    if temperature > 0 and seed is not None:
        torch.manual_seed(seed)
    for i in range(0, len(prompts), batch_size):
        seqs = [model.encode(p)[-(model.n_ctx - max_new_tokens) :] for p in prompts[i : i + batch_size]]
        ids, mask = model.pad(seqs, side="left")
        with model.hooked():
            gen = model.hf_model.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, **_how(model, temperature, top_p)
            )
        for s, g in zip(seqs, gen, strict=True):
            new = g[ids.shape[1] :].tolist()
            if tok.eos_token_id is not None and tok.eos_token_id in new:
                new = new[: new.index(tok.eos_token_id) + 1]
            out.append((s, new))
    return out


def stream(model: HookedLM, prompt: str, max_new_tokens: int, *, temperature: float = 0.0, top_p: float = 1.0,
           seed: int | None = None) -> Iterator[str]:  # fmt: skip
    """The continuation of one prompt, piece by piece as it is generated (edits in force): HF ``generate``
    in a thread, feeding a ``TextIteratorStreamer``."""
    from transformers import TextIteratorStreamer

    tok = model.tokenizer
    if temperature > 0 and seed is not None:
        torch.manual_seed(seed)
    ids, mask = model.pad([model.encode(prompt)[-(model.n_ctx - max_new_tokens) :]], side="left")
    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    failed: list[BaseException] = []

    def work() -> None:
        try:
            with torch.no_grad(), model.hooked():
                model.hf_model.generate(
                    input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, streamer=streamer,
                    **_how(model, temperature, top_p),
                )  # fmt: skip
        except BaseException as e:  # surfaced in the caller's thread
            failed.append(e)
            streamer.end()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield from streamer
    thread.join()
    if failed:
        raise failed[0]


def generate(model: HookedLM, prompts: Sequence[str], max_new_tokens: int, **kw) -> list[str]:
    """The decoded continuations of ``prompts`` (see :func:`generate_ids`)."""
    return [
        model.tokenizer.decode(new, skip_special_tokens=True)
        for _, new in generate_ids(model, prompts, max_new_tokens, **kw)
    ]
