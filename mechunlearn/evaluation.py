"""What the model knows: fact accuracy by greedy continuation, and perplexity on text.

Both run through :meth:`HookedLM.hooked`, so they measure the model with its edits in force.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from mechunlearn.concepts import Fact
from mechunlearn.models.hooked import HookedLM

log = logging.getLogger(__name__)


@dataclass
class FactResult:
    fact: Fact
    completion: str
    known: bool


def _batches(items: Sequence, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _fit(ids: list[int], room: int) -> list[int]:
    """Keep the first (BOS) token and the last ``room - 1`` tokens of a too-long prompt."""
    if len(ids) <= room:
        return ids
    log.warning("prompt of %d tokens cut to its last %d to leave room in the context", len(ids), room)
    return ids[:1] + ids[len(ids) - room + 1 :]


@torch.no_grad()
def greedy_complete(model: HookedLM, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 32) -> list[str]:
    """Greedy continuations of ``prompts`` (decoded text of the new tokens only)."""
    out: list[str] = []
    n = -(-len(prompts) // batch_size)
    for chunk in tqdm(_batches(list(prompts), batch_size), total=n, desc="greedy completion", leave=False):
        seqs = [_fit(model.encode(p), model.n_ctx - max_new_tokens) for p in chunk]
        start = [len(s) for s in seqs]
        for _ in range(max_new_tokens):
            ids, mask = model.pad(seqs)
            logits = model.logits(ids, mask)
            last = torch.tensor([len(s) - 1 for s in seqs], device=logits.device)
            nxt = logits[torch.arange(len(seqs), device=logits.device), last].argmax(-1).tolist()
            seqs = [s + [t] for s, t in zip(seqs, nxt, strict=True)]
        out += [model.tokenizer.decode(s[b:]) for s, b in zip(seqs, start, strict=True)]
    return out


def is_known(completion: str, answer: str) -> bool:
    """A fact is known when the greedy continuation starts with the answer."""
    return completion.lstrip().startswith(answer.strip())


def fact_results(model: HookedLM, facts: Sequence[Fact], batch_size: int = 32) -> list[FactResult]:
    """Per-fact greedy completions and whether each starts with its answer."""
    if not facts:
        return []
    n_new = max(len(model.tokenizer(" " + f.answer, add_special_tokens=False)["input_ids"]) for f in facts) + 1
    comps = greedy_complete(model, [f.prompt for f in facts], n_new, batch_size)
    return [FactResult(f, c, is_known(c, f.answer)) for f, c in zip(facts, comps, strict=True)]


def fact_accuracy(model: HookedLM, facts: Sequence[Fact], batch_size: int = 32) -> float:
    """Fraction of ``facts`` the model completes correctly (greedy); NaN for no facts."""
    res = fact_results(model, facts, batch_size)
    return sum(r.known for r in res) / len(res) if res else float("nan")


@torch.no_grad()
def perplexity(model: HookedLM, texts: Sequence[str], batch_size: int = 16) -> float:
    """Token-level perplexity over ``texts`` (each scored after BOS, chunked to the context)."""
    seqs: list[list[int]] = []
    for t in texts:
        ids = model.encode(t)
        seqs += [ids[i : i + model.n_ctx] for i in range(0, max(1, len(ids) - 1), model.n_ctx)]
    seqs = [s for s in seqs if len(s) > 1]
    nll, count = 0.0, 0
    n = -(-len(seqs) // batch_size)
    for chunk in tqdm(_batches(seqs, batch_size), total=n, desc="perplexity", leave=False):
        ids, mask = model.pad(chunk)
        logits = model.logits(ids, mask).float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        tgt = ids[:, 1:]
        tok_lp = logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
        m = mask[:, 1:].bool()
        nll -= tok_lp[m].sum().item()
        count += int(m.sum())
    return float(torch.exp(torch.tensor(nll / max(count, 1))))
