"""A stream of hooked activations for SAE training: sae-lens' ``DataProvider`` protocol.

sae-lens' ``SAETrainer`` takes any iterator of ``[batch, d_in]`` activation tensors. This
one runs documents through the hooked model one padded batch at a time (attention masks, no
packing of unrelated documents into one window), drops padding and BOS positions, fills a
buffer of ``buffer_tokens`` activations, shuffles it and hands out batches; when the
documents run out it starts another epoch over them in a new order. A corpus whose
activations fit in the buffer is run through the model once and reshuffled each epoch.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import torch

from mechunlearn.activations.capture import capture
from mechunlearn.models.hooked import HookedLM


def document_batches(model: HookedLM, docs: Sequence[str], batch_size: int) -> Iterator[tuple[torch.Tensor, ...]]:
    """``(input_ids, attention_mask, keep)`` batches; ``keep`` marks real non-BOS tokens."""
    for i in range(0, len(docs), batch_size):
        seqs = [model.encode(d)[: model.n_ctx] for d in docs[i : i + batch_size]]
        ids, mask = model.pad(seqs)
        yield ids, mask, model.content_mask(mask).bool()


def corpus_tokens(model: HookedLM, docs: Sequence[str]) -> int:
    """How many activations one pass over ``docs`` yields (real non-BOS tokens, as the stream keeps them)."""
    prefix = len(model.special_prefix())
    return sum(max(0, len(model.encode(d)[: model.n_ctx]) - prefix) for d in docs)


@torch.no_grad()
def hook_activations(model: HookedLM, hook: str, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Activations ``[batch, pos, d]`` at ``hook`` (edits in force).

    The forward stops after the hook's block (the bridge's ``stop_at_layer``): the later blocks
    and the unembedding, most of the cost on a large vocabulary, never run.
    """
    got: dict[str, torch.Tensor] = {}
    model.run_hooks(ids, mask, capture([model.check_hook(hook)], got))
    return got[hook]


class ActivationStream:
    """Endless shuffled batches of activations at ``hook`` over ``docs`` (epochs re-shuffled).

    Args:
        model: the hooked model (edits in force apply).
        hook: hook point name, e.g. ``blocks.2.hook_resid_pre``.
        docs: the training documents.
        batch_tokens: activations per yielded batch (sae-lens' ``train_batch_size_samples``).
        buffer_tokens: activations held and shuffled together.
        doc_batch_size: documents per forward pass.
        seed: shuffling seed.
    """

    def __init__(
        self,
        model: HookedLM,
        hook: str,
        docs: Sequence[str],
        *,
        batch_tokens: int = 1024,
        buffer_tokens: int = 131072,
        doc_batch_size: int = 32,
        seed: int = 0,
    ) -> None:
        self.model, self.hook, self.docs = model, model.check_hook(hook), list(docs)
        self.batch_tokens, self.buffer_tokens, self.doc_batch_size = batch_tokens, buffer_tokens, doc_batch_size
        self.rng = random.Random(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.epochs = 0
        self.tokens_seen = 0
        self._docs_iter: Iterator[tuple[torch.Tensor, ...]] = iter(())
        self._buf: torch.Tensor | None = None
        self._pos = 0
        self._all: torch.Tensor | None = None  # the whole corpus' activations, when they fit the buffer

    def _next_doc_batch(self) -> tuple[torch.Tensor, ...]:
        try:
            return next(self._docs_iter)
        except StopIteration:
            order = self.docs[:]
            self.rng.shuffle(order)
            self.epochs += 1
            self._docs_iter = document_batches(self.model, order, self.doc_batch_size)
            return next(self._docs_iter)

    def _one_epoch(self) -> torch.Tensor:
        acts = [
            hook_activations(self.model, self.hook, ids, mask)[keep].float().cpu()
            for ids, mask, keep in document_batches(self.model, self.docs, self.doc_batch_size)
        ]
        self.epochs += 1
        return torch.cat(acts)

    def _refill(self) -> None:
        if self._all is None and self.epochs == 0 and sum(map(len, self.docs)) <= 2 * self.buffer_tokens:
            # a corpus that (probably) fits in the buffer: run the model over it once, keep it
            acts = self._one_epoch()
            if len(acts) <= self.buffer_tokens:
                self._all = acts
            else:  # larger than hoped: serve this epoch, stream from the next one on
                self._buf, self._pos = acts[torch.randperm(len(acts), generator=self.gen)], 0
                return
        if self._all is not None:
            self._buf = self._all[torch.randperm(len(self._all), generator=self.gen)]
            self._pos = 0
            return
        parts, n = [], 0
        while n < self.buffer_tokens:
            ids, mask, keep = self._next_doc_batch()
            acts = hook_activations(self.model, self.hook, ids, mask)[keep].float().cpu()
            parts.append(acts)
            n += len(acts)
        buf = torch.cat(parts)
        self._buf = buf[torch.randperm(len(buf), generator=self.gen)]
        self._pos = 0

    def __iter__(self) -> ActivationStream:
        return self

    def __next__(self) -> torch.Tensor:
        if self._buf is None or self._pos + self.batch_tokens > len(self._buf):
            self._refill()
        batch = self._buf[self._pos : self._pos + self.batch_tokens]
        self._pos += self.batch_tokens
        self.tokens_seen += len(batch)
        return batch
