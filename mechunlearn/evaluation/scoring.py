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

from mechunlearn.concepts.folders import Fact
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models.hooked import HookedLM
from mechunlearn.models.logprobs import next_token_logprobs

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


def summarize(scores: Sequence[FactScore]) -> dict[str, float | None]:
    """The one aggregate of fact scores: ``n`` and the share ``greedy`` right, ``known``, ``mc`` right and
    the mean ``p_right`` (the last two over facts with choices; ``None`` when none has any)."""
    n = len(scores)
    mc = [s for s in scores if s.mc is not None]
    return {
        "n": float(n),
        "greedy": sum(s.greedy for s in scores) / n if n else None,
        "known": sum(s.known for s in scores) / n if n else None,
        "mc": sum(bool(s.mc) for s in mc) / len(mc) if mc else None,
        "p_right": sum(float(s.p_right) for s in mc) / len(mc) if mc else None,
    }


def _fit(ids: list[int], room: int, keep_head: int) -> list[int]:
    """Keep the special prefix and the last tokens of a prompt too long for the context."""
    if len(ids) <= room:
        return ids
    log.warning("prompt of %d tokens cut to its last %d to leave room in the context", len(ids), room)
    return ids[:keep_head] + ids[len(ids) - room + keep_head :]


class SelfCheckFailed(MechUnlearnError):
    """A fast path (batched scoring, KV-cached generation) disagrees with the plain computation."""


def _mismatch(model: HookedLM, what: str) -> SelfCheckFailed:
    from importlib.metadata import version

    return SelfCheckFailed(
        f"{what} on {model.name} under transformers {version('transformers')} and transformer-lens "
        f"{version('transformer-lens')}: the figures would be wrong. Install the tested set "
        "(pip install -c constraints.txt, see the README) and report these versions."
    )


# per option token: batching and padding move a float32 log-prob by ~1e-6, a bfloat16 one by ~1e-2
SELF_CHECK_TOLERANCE = {torch.float32: 1e-3, torch.float64: 1e-6}
HALF_PRECISION_TOLERANCE = 0.1


def _packing_limit(model: HookedLM) -> int:
    """The longest row whose attention a custom mask can state for every layer.

    Within a sliding window every key is in reach, so a causal mask is the whole truth; past it
    only the model's own mask knows each layer's window.
    """
    window = getattr(model.hf_model.config, "sliding_window", None)
    return min(model.n_ctx, window) if isinstance(window, int) and window > 0 else model.n_ctx


def _rows(
    model: HookedLM, prompts: Sequence[list[int]], options: Sequence[Sequence[list[int]]]
) -> tuple[list[tuple[int, list[int], list[int]]], list[tuple[int, list[int], list[int]]]]:
    """Rows ``(fact, option indices, prompt)``: packed (a fact's options in one row) and plain (one option each)."""
    head, limit = len(model.special_prefix()), _packing_limit(model)
    packed, plain = [], []
    for i, (prompt, opts) in enumerate(zip(prompts, options, strict=True)):
        if len(opts) > 1 and len(prompt) + sum(len(o) - 1 for o in opts) <= limit:
            packed.append((i, list(range(len(opts))), prompt))
        else:
            plain += [(i, [j], _fit(prompt, model.n_ctx - len(o), head)) for j, o in enumerate(opts)]
    return packed, plain


def _packed_mask(
    rows: list[tuple[int, list[int], list[int]]],
    options: Sequence[Sequence[list[int]]],
    width: int,
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Additive 4D attention mask ``[rows, 1, width, width]`` and position ids of left-padded packed rows.

    The prompt is causal; each option block sees the prompt and, causally, itself, at positions
    continuing the prompt's; padding sees only itself (no empty softmax rows).
    """
    allow = torch.zeros((len(rows), width, width), dtype=torch.bool, device=device)
    pos = torch.zeros((len(rows), width), dtype=torch.long, device=device)
    for r, (i, js, prompt) in enumerate(rows):
        blocks = [len(options[i][j]) - 1 for j in js]
        p0, plen = width - len(prompt) - sum(blocks), len(prompt)
        allow[r, :p0, :p0] = torch.eye(p0, dtype=torch.bool, device=device)
        allow[r, p0 : p0 + plen, p0 : p0 + plen] = torch.ones(plen, plen, device=device).tril().bool()
        pos[r, p0 : p0 + plen] = torch.arange(plen, device=device)
        b0 = p0 + plen
        for blen in blocks:
            allow[r, b0 : b0 + blen, p0 : p0 + plen] = True
            allow[r, b0 : b0 + blen, b0 : b0 + blen] = torch.ones(blen, blen, device=device).tril().bool()
            pos[r, b0 : b0 + blen] = plen + torch.arange(blen, device=device)
            b0 += blen
    mask = torch.zeros(allow.shape, dtype=dtype, device=device).masked_fill_(~allow, torch.finfo(dtype).min)
    return mask[:, None], pos


def _score_batch(
    model: HookedLM,
    rows: list[tuple[int, list[int], list[int]]],
    options: Sequence[Sequence[list[int]]],
    packed: bool,
    out: list[list[tuple[float, bool]]],
) -> None:
    """Score one batch of rows into ``out[fact][option]``.

    A row is the prompt followed by, for each of its options, the option's tokens but the last (a
    *block*). Left padding lines up every row's end, so the logits that predict the options'
    tokens (the prompt's last position, then every block position) are the row's last positions
    and the unembedding runs only there (``logits_to_keep``). A packed row's blocks each see the
    prompt and themselves only, at the positions they would have right after the prompt: a 4D
    attention mask and explicit position ids, both of which transformers takes as given. A plain
    row holds one block and runs with the ordinary padding mask.
    """
    seqs = [prompt + [t for j in js for t in options[i][j][:-1]] for i, js, prompt in rows]
    tails = [len(s) - len(prompt) + 1 for s, (_, _, prompt) in zip(seqs, rows, strict=True)]
    keep = max(tails)
    ids, mask = model.pad(seqs, side="left")
    if packed:
        mask4, pos = _packed_mask(rows, options, ids.shape[1], ids.device, next(model.hf_model.parameters()).dtype)
        with model.hooked():
            logits = model.hf_model(
                input_ids=ids, attention_mask=mask4, position_ids=pos, logits_to_keep=keep, use_cache=False
            ).logits
    else:
        logits = model.logits(ids, mask, logits_to_keep=keep)
    logits = logits.float()  # [rows, keep, vocab]
    for r, (i, js, _) in enumerate(rows):
        last = keep - tails[r]  # the prompt's last position among the kept ones
        start = last + 1
        for j in js:
            o = options[i][j]
            mine = torch.cat([logits[r, last : last + 1], logits[r, start : start + len(o) - 1]])
            target = torch.tensor(o, device=mine.device)
            lp = mine.gather(-1, target[:, None]).squeeze(-1) - mine.logsumexp(-1)
            out[i][j] = (float(lp.sum()), bool((mine.argmax(-1) == target).all()))
            start += len(o) - 1


def _batched_option_logprobs(
    model: HookedLM,
    options: Sequence[Sequence[list[int]]],
    rows: tuple[list[tuple[int, list[int], list[int]]], list[tuple[int, list[int], list[int]]]],
    batch_size: int,
) -> list[list[tuple[float, bool]]]:
    """The fast path: a fact's options packed into one row after its prompt, rows batched (see :func:`_score_batch`).

    No KV cache is kept or copied, so nothing depends on the cache classes of the installed
    transformers; the prompt still runs once per fact. Facts whose packed row would be longer
    than the model's sliding window (or context) run one row per option instead (``rows``: see :func:`_rows`).
    """
    out: list[list[tuple[float, bool]]] = [[(0.0, False)] * len(opts) for opts in options]
    packed, plain = rows
    batches = []
    for kind, is_packed in ((packed, True), (plain, False)):
        kind = sorted(kind, key=lambda row: len(row[2]) + sum(len(options[row[0]][j]) for j in row[1]))
        batches += [(kind[k : k + batch_size], is_packed) for k in range(0, len(kind), batch_size)]
    for batch, is_packed in tqdm(batches, desc="scoring facts", leave=False):
        _score_batch(model, batch, options, is_packed, out)
    return out


def _one_sequence_option_logprobs(
    model: HookedLM, prompt: list[int], options: Sequence[list[int]]
) -> list[tuple[float, bool]]:
    """The reference: each ``prompt + option`` alone, unpadded, full logits."""
    res = []
    for o in options:
        ids = torch.tensor([prompt + o], device=model.device)
        logp = torch.log_softmax(model.logits(ids)[0].float(), -1)[len(prompt) - 1 : len(prompt) - 1 + len(o)]
        target = torch.tensor(o, device=logp.device)
        res.append((float(logp.gather(-1, target[:, None]).sum()), bool((logp.argmax(-1) == target).all())))
    return res


def _self_check(
    model: HookedLM, prompts: Sequence[list[int]], options: Sequence[Sequence[list[int]]], checked: set[int], got: list
) -> None:
    """Score the ``checked`` facts (the first packed and the first plain one) one sequence at a time; compare.

    The batched path relies on left padding, custom 4D attention masks, explicit position ids and
    ``logits_to_keep`` behaving as transformers documents them; a release of transformers or
    TransformerLens that changes one of them would change every score silently. Costs a few
    short forwards per call.
    """
    per_token = SELF_CHECK_TOLERANCE.get(next(model.hf_model.parameters()).dtype, HALF_PRECISION_TOLERANCE)
    for i in sorted(checked):
        if len(prompts[i]) + max(len(o) for o in options[i]) > model.n_ctx:
            continue  # cut to fit by the batched path: not the same sequence
        ref = _one_sequence_option_logprobs(model, prompts[i], options[i])
        for o, (lp, _), (ref_lp, _) in zip(options[i], got[i], ref, strict=True):
            if abs(lp - ref_lp) > per_token * len(o):  # a greedy flip within this is a tie broken by noise
                raise _mismatch(
                    model, f"batched fact scoring disagrees with one-sequence scoring ({lp:.5f} vs {ref_lp:.5f})"
                )


@torch.no_grad()
def option_logprobs(
    model: HookedLM, prompts: Sequence[list[int]], options: Sequence[Sequence[list[int]]], batch_size: int = 16
) -> list[list[tuple[float, bool]]]:
    """For each prompt and each of its options (token lists): summed log-prob and whether it is the greedy path.

    Batched (see :func:`_batched_option_logprobs`), with the edits in force; a fact of each kind of
    row is checked against one-sequence scoring on every call (:func:`_self_check`), so a dependency
    that changes what the batched path computes raises :class:`SelfCheckFailed` instead of
    returning wrong numbers.
    """
    if not prompts:
        return []
    rows = _rows(model, prompts, options)
    got = _batched_option_logprobs(model, options, rows, batch_size)
    _self_check(model, prompts, options, {kind[0][0] for kind in rows if kind}, got)
    return got


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


def greedy_complete(model: HookedLM, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 16) -> list[str]:
    """Greedy continuations of ``prompts`` (decoded new tokens), KV-cached, edits in force
    (:func:`mechunlearn.models.generate.generate_ids`). The first continuation of every call is
    checked against one teacher-forced pass (:func:`_check_generation`).
    """
    from mechunlearn.models.generate import generate_ids

    out = generate_ids(model, prompts, max_new_tokens, batch_size=batch_size)
    if out:
        _check_generation(model, *out[0])
    return [model.tokenizer.decode(new, skip_special_tokens=True) for _, new in out]


def _check_generation(model: HookedLM, prompt: list[int], new: list[int]) -> None:
    """Each greedy token must be the argmax of one uncached pass over prompt + continuation.

    KV-cached generation runs through the bridge's attention components, which must read the
    cache under the name the installed transformers passes it; when they do not (transformers
    5.25 renamed ``past_key_values`` to ``cache``; transformer-lens 3.9 reads the old name), every
    token after the first is computed without the context and generation is silently wrong.
    """
    eos = model.tokenizer.eos_token_id
    if eos in new:
        new = new[: new.index(eos) + 1]
    if not new:
        return
    ids = torch.tensor([prompt + new], device=model.device)
    logits = model.logits(ids)[0, len(prompt) - 1 : len(prompt) - 1 + len(new)].float()
    chosen = logits.gather(-1, torch.tensor(new, device=logits.device)[:, None]).squeeze(-1)
    if bool((chosen < logits.max(-1).values - 1e-3).any()):
        raise _mismatch(model, "KV-cached greedy generation disagrees with an uncached pass")


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
        tok_lp = next_token_logprobs(model.logits(ids, mask), ids)
        m = mask[:, 1:].bool()
        nll -= tok_lp[m].sum().item()
        count += int(m.sum())
    return float(torch.exp(torch.tensor(nll / max(count, 1))))
