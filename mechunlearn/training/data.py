"""Forget and retain data for gradient unlearning: passages and facts as token examples.

Forget data are the concept's forget passages (training part; held-back passages are never
trained on) and its train-split forget facts (only those the base model knows) written as
prompt + answer, trained on the answer tokens only. Retain data are the same for the
retain side. ``--forget-data`` / ``--retain-data`` files (txt: one document per line;
jsonl: ``{"text"}`` or ``{"prompt", "answer"}`` per line) replace a side's default.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from mechunlearn.concepts.folders import Concept, Fact
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import read_jsonl, read_lines
from mechunlearn.models.hooked import HookedLM
from mechunlearn.unlearning.base import Batch


@dataclass(frozen=True)
class Example:
    ids: tuple[int, ...]
    target_from: int  # first token that is a training target (1 for a passage, the answer's start for a fact)
    prompt_len: int  # where a mismatched answer is attached (a fact's prompt; a passage's first third)
    targets: tuple[int, ...] | None = None  # only these positions are targets (a passage's name tokens)


def text_example(model: HookedLM, text: str, max_len: int) -> Example:
    ids = tuple(model.encode(text)[:max_len])
    return Example(ids, 1, max(2, len(ids) // 3))


def named_example(model: HookedLM, text: str, max_len: int, names: re.Pattern) -> Example | None:
    """A passage whose targets are only the tokens of the concept's names (every token overlapping a match of
    ``names``), the tokens that carry what the model knows of the concept; ``None`` when it names none."""
    from mechunlearn.concepts.labels import CONCEPT, token_labels

    enc = model.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    prefix = model.special_prefix()
    ids = (prefix + list(enc["input_ids"]))[:max_len]
    labels = token_labels(enc["offset_mapping"], [m.span() for m in names.finditer(text)])
    targets = tuple(i for i, lab in enumerate(labels, start=len(prefix)) if lab == CONCEPT and 1 <= i < len(ids))
    if not targets:
        return None
    return Example(tuple(ids), targets[0], max(2, len(ids) // 3), targets)


def fact_example(model: HookedLM, prompt: str, answer: str, max_len: int) -> Example:
    p = model.encode(prompt)
    ids = tuple((p + model.encode_continuation(answer))[:max_len])
    return Example(ids, min(len(p), len(ids) - 1), len(p))


def read_data_file(path: str | Path) -> list[str | Fact]:
    """A ``--forget-data`` / ``--retain-data`` file: txt (a document per line) or jsonl."""
    p = Path(path)
    if not p.is_file():
        raise MechUnlearnError(f"data file not found: {p}")
    if p.suffix == ".jsonl":
        out: list[str | Fact] = []
        for lineno, r in enumerate(read_jsonl(p), start=1):
            if "text" in r and isinstance(r["text"], str):
                out.append(r["text"])
            elif isinstance(r.get("prompt"), str) and isinstance(r.get("answer"), str):
                out.append(Fact(r["prompt"], r["answer"]))
            else:
                raise MechUnlearnError(f"{p}: record {lineno} has neither 'text' nor 'prompt' + 'answer' strings")
        return out
    if p.suffix in (".txt", ""):
        return list(read_lines(p, what="data file"))
    raise MechUnlearnError(f"data file {p}: unsupported type '{p.suffix}'; valid: .txt (one document per line), .jsonl")


DataKind = Literal["all", "facts", "passages"]
TokenKind = Literal["all", "names"]


def default_items(concept: Concept, side: str, kind: DataKind = "all") -> list[str | Fact]:
    """A side's default training data: its corpus' training passages and/or known train-split facts."""
    passages = (concept.forget_split() if side == "forget" else concept.retain_split())[0]
    if side == "retain":
        passages = [t for t in passages if not concept.mentions(t)]
    facts = list(concept.training_facts(side, concept.known))
    return {"all": list(passages) + facts, "facts": facts, "passages": list(passages)}[kind]


class UnlearnData:
    """Token examples of both sides, with seeded batch sampling.

    Items are texts, :class:`Fact` s or ready :class:`Example` s. By default each side cycles
    through a shuffled order of its examples. ``bucket`` (rows per batch) draws each batch from
    one bucket of examples of similar length instead, the buckets in a new seeded order every
    pass: far less padding when lengths vary (the bundled model's corpus, distillation text).
    """

    def __init__(
        self,
        model: HookedLM,
        forget: list,
        retain: list,
        *,
        max_len: int = 128,
        seed: int = 0,
        bucket: int = 0,
        forget_names: re.Pattern | None = None,
    ) -> None:
        """``forget_names``: forget passages are trained on the tokens of these names only (facts on their answers,
        as always); a passage that names none within ``max_len`` tokens is left out (counted in ``unnamed``)."""

        def one(x, names):
            if isinstance(x, Example):
                return x
            if isinstance(x, Fact):
                return fact_example(model, x.prompt, x.answer, max_len)
            return text_example(model, x, max_len) if names is None else named_example(model, x, max_len, names)

        def encode(items, names=None):
            return [one(x, names) for x in items]

        self.model = model
        forget_rows = encode(forget, forget_names)
        self.unnamed = sum(x is None for x in forget_rows)
        self.forget, self.retain = [x for x in forget_rows if x is not None], encode(retain)
        if forget and not self.forget:
            raise MechUnlearnError(
                f"none of the {len(forget)} forget passages names the concept in its first {max_len} tokens: "
                "--forget-tokens names leaves nothing to train on; valid: passages that name it, or --forget-tokens all"
            )
        self.rng = random.Random(seed)
        self._order: dict[str, list[int]] = {"forget": [], "retain": []}
        self._buckets = {side: length_buckets(self.pool(side), bucket, seed) for side in ("forget", "retain")}
        self._bucket_rng = {side: random.Random(seed) for side in ("forget", "retain")}
        self._bucket_order: dict[str, list[list[int]]] = {"forget": [], "retain": []}

    def drop_prefix_tokens(self, side: str, keep: int, cut: int) -> None:
        """Remove tokens ``keep .. keep + cut`` (a prompt put after the special prefix: a guardrail's) from
        every example of ``side``: the texts as the model reads them once that prompt is gone."""

        def strip(x: Example) -> Example:
            def shift(i: int) -> int:
                return i - cut if i >= keep + cut else min(i, keep) if i > keep else i

            targets = None if x.targets is None else tuple(shift(i) for i in x.targets if not keep <= i < keep + cut)
            ids = x.ids[:keep] + x.ids[keep + cut :]
            return Example(ids, max(1, shift(x.target_from)), shift(x.prompt_len), targets)

        if side == "forget":
            self.forget = [strip(x) for x in self.forget]
        else:
            self.retain = [strip(x) for x in self.retain]

    def pool(self, side: str) -> list[Example]:
        return self.forget if side == "forget" else self.retain

    def next_indices(self, side: str, n: int) -> list[int]:
        """The next ``n`` examples of ``side`` (with ``bucket``: the next bucket, at most ``n``)."""
        if self._buckets[side]:
            if not self._bucket_order[side]:
                order = list(range(len(self._buckets[side])))
                self._bucket_rng[side].shuffle(order)
                self._bucket_order[side] = [self._buckets[side][i] for i in reversed(order)]
            return self._bucket_order[side].pop()[:n]
        out = []
        while len(out) < n:
            if not self._order[side]:
                order = list(range(len(self.pool(side))))
                self.rng.shuffle(order)
                self._order[side] = order
            out.append(self._order[side].pop())
        return out

    def batches_per_pass(self, side: str, n: int) -> int:
        """Batches of ``n`` rows in one pass over ``side`` (its number of buckets, with ``bucket``)."""
        return len(self._buckets[side]) or math.ceil(len(self.pool(side)) / n)

    def batch(self, side: str, index: list[int]) -> Batch:
        return make_batch(self.model, [self.pool(side)[i] for i in index], index)

    def mismatched(self, forget_index: list[int], rng: random.Random, answer_len: int = 32) -> Batch:
        """Forget prompts followed by the continuations of random retain examples (Yao et al.'s random mismatch)."""
        rows = []
        for i in forget_index:
            ex, other = self.forget[i], self.retain[rng.randrange(len(self.retain))]
            answer = other.ids[other.target_from :][:answer_len]
            rows.append(Example(ex.ids[: ex.prompt_len] + answer, ex.prompt_len, ex.prompt_len))
        return make_batch(self.model, rows, forget_index)


def length_buckets(examples: list[Example], size: int, seed: int) -> list[list[int]]:
    """Indices of ``examples`` sorted by length and cut into groups of ``size``, the groups in a
    seeded order (none when ``size`` is 0)."""
    if not size:
        return []
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].ids))
    buckets = [order[i : i + size] for i in range(0, len(order), size)]
    random.Random(seed).shuffle(buckets)
    return buckets


def make_batch(model: HookedLM, rows: list[Example], index: list[int]) -> Batch:
    ids, mask = model.pad([list(r.ids) for r in rows])
    loss_mask = torch.zeros_like(mask)
    for b, r in enumerate(rows):
        if r.targets is None:
            loss_mask[b, r.target_from : len(r.ids)] = 1
        else:
            loss_mask[b, list(r.targets)] = 1
    return Batch(ids, mask, loss_mask, list(index), model.content_mask(mask))


def stack_batches(model: HookedLM, batches: list[Batch]) -> tuple[torch.Tensor, torch.Tensor, list[slice]]:
    """One right-padded ``input_ids, attention_mask`` of every batch's rows (one forward pass), and each one's rows."""
    width = max(b.input_ids.shape[1] for b in batches)
    pad = model.tokenizer.pad_token_id or 0

    def widen(t: torch.Tensor, value: int) -> torch.Tensor:
        return torch.nn.functional.pad(t, (0, width - t.shape[1]), value=value)

    ids = torch.cat([widen(b.input_ids, pad) for b in batches])
    mask = torch.cat([widen(b.attention_mask, 0) for b in batches])
    spans, start = [], 0
    for b in batches:
        spans.append(slice(start, start + b.input_ids.shape[0]))
        start += b.input_ids.shape[0]
    return ids, mask, spans
