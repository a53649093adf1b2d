"""What the model knows: fact recall (greedy and multiple choice) and perplexity on text.

Everything runs through :meth:`HookedLM.logits`, so it measures the model with its edits in force.

Facts are scored by teacher forcing, one forward pass per batch: a fact is *greedy-correct*
when every token of ``" " + answer`` is the argmax given the prompt and the answer tokens
before it — exactly when the greedy continuation starts with the answer's tokens. A fact
with ``choices`` is also a multiple-choice item scored as lm-eval's ``acc``: the choice
with the highest summed log-probability of its tokens wins; ``p_right`` is the right
choice's share of the choices' probability mass. A fact's prompt runs once (left-padded,
KV cache kept) and its choices run on copies of that cache; logits are computed only where
they predict a choice token (``logits_to_keep``): on a 262k-token vocabulary the
unembedding is most of the cost of a full pass.
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


@dataclass(frozen=True)
class FactScore:
    """How the model does on one fact.

    Attributes:
        greedy: the greedy continuation starts with the answer.
        mc: the right choice has the highest summed log-probability (``None`` without choices).
        p_right: the right choice's probability normalised over the choices (``None`` without choices).
    """

    greedy: bool
    mc: bool | None = None
    p_right: float | None = None

    @property
    def known(self) -> bool:
        """Known: multiple choice right when the fact has choices, else greedy right."""
        return self.mc if self.mc is not None else self.greedy


def _fit(ids: list[int], room: int, keep_head: int) -> list[int]:
    """Keep the special prefix and the last tokens of a prompt too long for the context."""
    if len(ids) <= room:
        return ids
    log.warning("prompt of %d tokens cut to its last %d to leave room in the context", len(ids), room)
    return ids[:keep_head] + ids[len(ids) - room + keep_head :]


@torch.no_grad()
def option_logprobs(
    model: HookedLM, prompts: Sequence[list[int]], options: Sequence[Sequence[list[int]]], batch_size: int = 16
) -> list[list[tuple[float, bool]]]:
    """For each prompt and each of its options (token lists): summed log-prob and whether it is the greedy path.

    The prompt runs once (left-padded, KV cache kept); its options then run as one batch on
    copies of that cache, so a 4-choice item costs one prompt plus four short continuations.
    Runs the HF module inside :meth:`HookedLM.hooked`: the bridge's components sit inside it,
    so the edits' hooks fire on every token (tests compare with whole-sequence scoring).
    """
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[list[tuple[float, bool]]] = [[] for _ in prompts]
    head = len(model.special_prefix())
    longest = max((len(o) for opts in options for o in opts), default=1)
    for start in tqdm(range(0, len(order), batch_size), desc="scoring facts", leave=False):
        idx = order[start : start + batch_size]
        seqs = [_fit(prompts[i], model.n_ctx - longest, head) for i in idx]
        ids, mask = model.pad(seqs, side="left")
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        rows = [r for r, i in enumerate(idx) for _ in options[i]]
        flat = [o for i in idx for o in options[i]]
        width = max(len(o) for o in flat)
        cont = torch.full((len(flat), width), model.tokenizer.pad_token_id or 0, dtype=torch.long)
        cmask = torch.zeros((len(flat), width), dtype=torch.long)
        for r, o in enumerate(flat):
            cont[r, : len(o)], cmask[r, : len(o)] = torch.tensor(o), 1
        cont, cmask = cont.to(ids.device), cmask.to(ids.device)
        sel = torch.tensor(rows, device=ids.device)
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
                    position_ids=pmask.sum(-1, keepdim=True) + torch.arange(width - 1, device=ids.device)[None],
                    past_key_values=cache,
                    use_cache=False,
                ).logits.float()
        # logits predicting option token j: the prompt's last position for j = 0, option position j-1 after
        logits = first.logits[:, -1:].float()[sel]
        logits = logits if rest is None else torch.cat([logits, rest], 1)  # [options, width, vocab]
        lp = logits.gather(-1, cont[..., None]).squeeze(-1) - logits.logsumexp(-1)
        hit = logits.argmax(-1) == cont
        real = cmask.bool()
        total = (lp * real).sum(-1).tolist()
        greedy = (hit | ~real).all(-1).tolist()
        for r, row in enumerate(rows):
            out[idx[row]].append((total[r], greedy[r]))
    return out


def score_facts(model: HookedLM, facts: Sequence[Fact], batch_size: int = 16) -> list[FactScore]:
    """Greedy and (where the fact has choices) multiple-choice scores of every fact, in order."""
    if not facts:
        return []
    prompts = [model.encode(f.prompt) for f in facts]
    options = [[model.encode_continuation(o) for o in (f.choices or (f.answer,))] for f in facts]
    scored = option_logprobs(model, prompts, options, batch_size)
    out = []
    for f, opts in zip(facts, scored, strict=True):
        if not f.choices:
            out.append(FactScore(opts[0][1]))
            continue
        lps = torch.tensor([lp for lp, _ in opts], dtype=torch.float64)
        best = int(lps.argmax())
        out.append(FactScore(opts[f.right][1], best == f.right, float(torch.softmax(lps, 0)[f.right])))
    return out


def fact_accuracy(model: HookedLM, facts: Sequence[Fact], batch_size: int = 32) -> float:
    """Fraction of ``facts`` whose greedy continuation starts with the answer; NaN for no facts."""
    res = score_facts(model, facts, batch_size)
    return sum(r.greedy for r in res) / len(res) if res else float("nan")


@torch.no_grad()
def greedy_complete(model: HookedLM, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 16) -> list[str]:
    """Greedy continuations of ``prompts`` (decoded new tokens), KV-cached, edits in force.

    Runs HF ``generate`` on the wrapped module: the bridge's components sit inside it, so
    the edits' hooks fire on every generated token.
    """
    out: list[str] = []
    tok = model.tokenizer
    for i in range(0, len(prompts), batch_size):
        chunk = prompts[i : i + batch_size]
        seqs = [model.encode(p)[-(model.n_ctx - max_new_tokens) :] for p in chunk]
        ids, mask = model.pad(seqs, side="left")
        with model.hooked():
            gen = model.hf_model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
                use_cache=True,
            )
        out += [tok.decode(g[ids.shape[1] :], skip_special_tokens=True) for g in gen]
    return out


@torch.no_grad()
def perplexity(model: HookedLM, texts: Sequence[str], batch_size: int = 8) -> float:
    """Token-level perplexity over ``texts`` (tokenized as by default, chunked to the context)."""
    n_ctx = min(model.n_ctx, 512)
    seqs: list[list[int]] = []
    for t in texts:
        ids = model.encode(t)
        seqs += [ids[i : i + n_ctx] for i in range(0, max(1, len(ids) - 1), n_ctx)]
    seqs = [s for s in seqs if len(s) > 1]
    nll, count = 0.0, 0
    for start in tqdm(range(0, len(seqs), batch_size), desc="perplexity", leave=False):
        ids, mask = model.pad(seqs[start : start + batch_size])
        logits = model.logits(ids, mask).float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        tok_lp = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        m = mask[:, 1:].bool()
        nll -= tok_lp[m].sum().item()
        count += int(m.sum())
    return float(torch.exp(torch.tensor(nll / max(count, 1))))
