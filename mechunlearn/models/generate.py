"""Text generation through the hooked model: KV-cached, batched, edits in force.

HF ``generate`` runs on the wrapped module: the bridge's components sit inside it, so the edits'
hooks fire on every generated token, and a prompt edit (a guardrail) is part of every prompt's
tokens (:meth:`HookedLM.encode`). Greedy (``temperature=0``) or sampled (temperature, nucleus
``top_p``, :class:`NucleusSampler`), seeded: the same seed and prompts give the same texts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from mechunlearn.models.hooked import HookedLM


class NucleusSampler(LogitsProcessor):
    """Draws each next token itself: temperature, then nucleus (top-p) sampling (Holtzman et al. 2020)
    over the tokens HF's ``TopPLogitsWarper`` keeps (in order of probability, every token whose
    predecessors' mass is below ``top_p``, so at least the most probable one). It returns scores where
    only the drawn token is finite, and ``generate`` runs greedy: its argmax takes that token.

    Why not HF's sampling: on gemma's 262k-token vocabulary HF sorts the whole vocabulary at every step
    (~0.8 s for 32 rows on 2 cores, more than the forward pass) and ``multinomial`` draws an exponential
    per entry (~0.18 s). Here the nucleus is looked for among the ``k`` most probable tokens, which hold
    it whenever their mass reaches ``top_p`` (a row where it does not is sorted in full), and the draw
    is among those. ``generator`` makes a seeded call repeat without touching the global RNG.
    """

    def __init__(self, temperature: float, top_p: float, generator: torch.Generator | None = None, k: int = 1024):
        self.temperature, self.top_p, self.generator, self.k = temperature, top_p, generator, k

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        logits = scores.float() / self.temperature
        probs = logits.softmax(-1)
        k = min(self.k, logits.shape[-1])
        top, idx = probs.topk(k, dim=-1)
        wide = top.sum(-1) < self.top_p  # the nucleus reaches past the top k: the row's full ranking
        if wide.any():
            top_wide, idx_wide = probs[wide].sort(dim=-1, descending=True)
            chosen = torch.empty(len(logits), dtype=torch.long)
            chosen[wide] = self._draw(top_wide, idx_wide)
            chosen[~wide] = self._draw(top[~wide], idx[~wide])
        else:
            chosen = self._draw(top, idx)
        out = torch.full_like(scores, -float("inf"))
        return out.scatter(-1, chosen[:, None].to(scores.device), 0.0)

    def _draw(self, ranked: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """One token per row among ``ranked`` probabilities (descending) and their vocabulary ``idx``."""
        if not len(ranked):
            return torch.empty(0, dtype=torch.long)
        keep = (ranked.cumsum(-1) - ranked) < self.top_p  # the mass of the tokens ranked above each
        keep[..., 0] = True
        weights = torch.where(keep, ranked, torch.zeros_like(ranked))
        pick = torch.multinomial(weights.cpu(), 1, generator=self.generator)
        return idx.cpu().gather(-1, pick)[:, 0]


def _how(model: HookedLM, temperature: float, top_p: float, generator: torch.Generator | None = None) -> dict:
    """HF ``generate``'s decoding arguments: greedy at temperature 0, else :class:`NucleusSampler`'s draws."""
    tok = model.tokenizer
    how = (
        {}
        if temperature <= 0
        else {"logits_processor": LogitsProcessorList([NucleusSampler(temperature, top_p, generator)])}
    )
    return {
        "pad_token_id": tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
        "use_cache": True,
        "do_sample": False,
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
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    for i in range(0, len(prompts), batch_size):
        seqs = [model.encode(p)[-(model.n_ctx - max_new_tokens) :] for p in prompts[i : i + batch_size]]
        ids, mask = model.pad(seqs, side="left")
        with model.hooked():
            gen = model.hf_model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                **_how(model, temperature, top_p, generator),
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
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    ids, mask = model.pad([model.encode(prompt)[-(model.n_ctx - max_new_tokens) :]], side="left")
    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    failed: list[BaseException] = []

    def work() -> None:
        try:
            with torch.no_grad(), model.hooked():
                model.hf_model.generate(
                    input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, streamer=streamer,
                    **_how(model, temperature, top_p, generator),
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
