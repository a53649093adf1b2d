"""Hook-based activation caching that streams: batches in, reductions or shards out.

A forward pass registers one hook per requested hook point. Each hook hands the activations
of the real (labelled, non-padding) tokens to a *sink*:

* :class:`NeuronStats` reduces on the fly to per-unit statistics split by label
  (count, sum, sum of squares, firing count), so memory does not grow with the corpus;
* :class:`ShardWriter` writes safetensors shards to disk for later passes (probes);
* :class:`InMemory` keeps everything (small corpora, tests, notebooks);
* :class:`MeanByLabel` pools one mean vector per text (document classifiers).

Units are the columns of the hooked activation: MLP neurons ``[layer, d_mlp]`` for
``blocks.{l}.mlp.hook_post``, residual dimensions for ``hook_resid_post``, SAE features, ...
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from mechunlearn.concepts.labels import LabelledText
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models.hooked import HookedLM


def _chunks(items: Iterable[LabelledText], size: int) -> Iterator[list[LabelledText]]:
    buf: list[LabelledText] = []
    for x in items:
        buf.append(x)
        if len(buf) == size:
            yield buf
            buf = []
    if buf:
        yield buf


def token_batches(items: Iterable[LabelledText], batch_size: int, pad_id: int) -> Iterator[tuple[torch.Tensor, ...]]:
    """Right-padded ``(input_ids, attention_mask, labels)`` batches; pad label is -1.

    ``items`` may be a generator: batches are built lazily, so a corpus never has to be
    held in memory as a whole.
    """
    for chunk in _chunks(items, batch_size):
        w = max(len(x.ids) for x in chunk)
        ids = torch.full((len(chunk), w), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), w), dtype=torch.long)
        lab = torch.full((len(chunk), w), -1, dtype=torch.long)
        for r, x in enumerate(chunk):
            n = len(x.ids)
            ids[r, :n] = torch.tensor(x.ids)
            mask[r, :n] = 1
            lab[r, :n] = torch.tensor(x.labels)
        yield ids, mask, lab


class Sink:
    """Receives, per batch and hook, the activations ``[n_tokens, d]`` of labelled tokens."""

    def add(self, hook: str, acts: torch.Tensor, labels: torch.Tensor) -> None:
        raise NotImplementedError

    def end_batch(self) -> None:  # noqa: B027 - optional
        pass

    def close(self) -> None:  # noqa: B027 - optional
        pass


@dataclass
class NeuronStats(Sink):
    """Per-unit activation statistics split by label (0 = other, 1 = concept).

    Arrays are ``[2, n_hooks, d]`` (float64): sums, sums of squares and counts of tokens
    where the unit is positive; ``count`` is ``[2]`` tokens per label. Accumulation stays
    on the model's device (one matrix product per hook and batch) and is read back once.
    """

    hooks: list[str]
    d: int

    def __post_init__(self) -> None:
        self._idx = {h: i for i, h in enumerate(self.hooks)}
        self._acc: torch.Tensor | None = None  # [n_hooks, 2, 3 * d]: sum | sumsq | active
        self._count: torch.Tensor | None = None
        self._np: dict[str, np.ndarray] | None = None

    def add(self, hook: str, acts: torch.Tensor, labels: torch.Tensor) -> None:
        a = acts.float()
        onehot = torch.stack([labels == 0, labels == 1]).float()  # [2, n]
        part = onehot @ torch.cat([a, a * a, (a > 0).float()], dim=1)  # [2, 3d], one GEMM
        if self._acc is None:
            self._acc = torch.zeros(len(self.hooks), 2, 3 * self.d, dtype=torch.float64, device=a.device)
            self._count = torch.zeros(2, dtype=torch.float64, device=a.device)
        i = self._idx[hook]
        self._acc[i] += part.double()
        if i == 0:
            self._count += onehot.sum(1).double()
        self._np = None

    def _arrays(self) -> dict[str, np.ndarray]:
        if self._np is None:
            n, d = len(self.hooks), self.d
            acc = self._acc.cpu().numpy() if self._acc is not None else np.zeros((n, 2, 3 * d))
            acc = acc.transpose(1, 0, 2)  # [2, n_hooks, 3d]
            self._np = {
                "sum": acc[..., :d],
                "sumsq": acc[..., d : 2 * d],
                "active": acc[..., 2 * d :],
                "count": self._count.cpu().numpy() if self._count is not None else np.zeros(2),
            }
        return self._np

    @property
    def count(self) -> np.ndarray:
        return self._arrays()["count"]

    @property
    def sum(self) -> np.ndarray:
        return self._arrays()["sum"]

    @property
    def sumsq(self) -> np.ndarray:
        return self._arrays()["sumsq"]

    @property
    def active(self) -> np.ndarray:
        return self._arrays()["active"]

    def mean(self, label: int) -> np.ndarray:
        """Mean activation ``[n_hooks, d]`` over tokens with ``label``."""
        return self.sum[label] / max(self.count[label], 1)

    def std(self, label: int) -> np.ndarray:
        m = self.mean(label)
        return np.sqrt(np.maximum(self.sumsq[label] / max(self.count[label], 1) - m * m, 0))

    def freq(self, label: int) -> np.ndarray:
        """Fraction of tokens with ``label`` on which the unit is positive."""
        return self.active[label] / max(self.count[label], 1)

    def overall_mean(self) -> np.ndarray:
        """Mean over all labelled tokens (used for mean ablation)."""
        return self.sum.sum(0) / max(self.count.sum(), 1)

    def save(self, path: Path) -> None:
        arrays = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in self._arrays().items()}
        save_file(arrays, str(path), metadata={"hooks": json.dumps(self.hooks)})

    @classmethod
    def load(cls, path: Path) -> NeuronStats:
        with safe_open(str(path), "pt") as f:
            hooks = json.loads(f.metadata()["hooks"])
        arrays = {k: v.numpy() for k, v in load_file(str(path)).items()}
        s = cls(hooks, arrays["sum"].shape[-1])
        s._np = arrays
        return s


@dataclass
class InMemory(Sink):
    """Keeps every token's activations: ``acts[hook]`` is ``[n_tokens, d]`` float32 numpy."""

    acts: dict[str, list[np.ndarray]] = field(default_factory=dict)
    labels: list[np.ndarray] = field(default_factory=list)
    _first: str | None = None

    def add(self, hook, acts, labels):
        self._first = self._first or hook
        self.acts.setdefault(hook, []).append(acts.float().cpu().numpy())
        if hook == self._first:
            self.labels.append(labels.cpu().numpy())

    def matrix(self, hooks: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(X [n_tokens, sum of d], y [n_tokens])`` with the hooks' units side by side."""
        hooks = list(hooks or self.acts)
        x = np.concatenate([np.concatenate(self.acts[h]) for h in hooks], axis=1)
        return x.astype(np.float32), np.concatenate(self.labels).astype(np.int64)


@dataclass
class MeanByLabel(Sink):
    """Mean activation per label value ``0..n-1``: label each text's tokens with its index
    and this pools one vector per text (``[n, sum of d]``, float64 sums on the CPU)."""

    n: int
    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    counts: torch.Tensor | None = None
    _first: str | None = None

    def add(self, hook, acts, labels):
        self._first = self._first or hook
        lab = labels.cpu()
        s = self.sums.setdefault(hook, torch.zeros(self.n, acts.shape[-1], dtype=torch.float64))
        s.index_add_(0, lab, acts.detach().cpu().double())
        if hook == self._first:
            self.counts = self.counts if self.counts is not None else torch.zeros(self.n, dtype=torch.float64)
            self.counts.index_add_(0, lab, torch.ones(len(lab), dtype=torch.float64))

    def matrix(self, hooks: Sequence[str] | None = None) -> np.ndarray:
        """``[n, sum of d]`` means, the hooks' units side by side (a label never seen gives zeros)."""
        hooks = list(hooks or self.sums)
        x = torch.cat([self.sums[h] for h in hooks], dim=1) / self.counts.clamp(min=1)[:, None]
        return x.float().numpy()


@dataclass
class ShardWriter(Sink):
    """Writes activations to ``out_dir/shard_{i:05d}.safetensors`` every ``shard_tokens`` tokens."""

    out_dir: Path
    shard_tokens: int = 65536
    dtype: torch.dtype = torch.float16
    _buf: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    _labels: list[torch.Tensor] = field(default_factory=list)
    _n: int = 0
    _shards: list[str] = field(default_factory=list)
    _first: str | None = None

    def add(self, hook, acts, labels):
        self._first = self._first or hook
        self._buf.setdefault(hook, []).append(acts.to(self.dtype).cpu())
        if hook == self._first:
            self._labels.append(labels.cpu())
            self._n += len(labels)

    def end_batch(self):
        if self._n >= self.shard_tokens:
            self._flush()

    def _flush(self):
        if not self._n:
            return
        name = f"shard_{len(self._shards):05d}.safetensors"
        tensors = {h: torch.cat(v) for h, v in self._buf.items()} | {"labels": torch.cat(self._labels)}
        save_file(tensors, str(self.out_dir / name))
        self._shards.append(name)
        self._buf, self._labels, self._n = {}, [], 0

    def close(self):
        self._flush()
        (self.out_dir / "index.json").write_text(
            json.dumps({"shards": self._shards, "hooks": list(self._buf) or None}, indent=2)
        )


def iter_shards(folder: Path, hook: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(acts, labels)`` per shard of a :class:`ShardWriter` folder, one in memory at a time."""
    index = json.loads((folder / "index.json").read_text())
    for name in index["shards"]:
        with safe_open(str(folder / name), "pt") as f:
            if hook not in f.keys():
                raise MechUnlearnError(f"hook '{hook}' is not cached in {folder}; cached: {sorted(f.keys())}")
            yield f.get_tensor(hook), f.get_tensor("labels")


@torch.no_grad()
def run_and_cache(
    model: HookedLM,
    items: Iterable[LabelledText],
    hooks: Sequence[str],
    sinks: Sequence[Sink],
    *,
    batch_size: int = 32,
    progress: bool = True,
    desc: str = "caching activations",
) -> None:
    """Run ``items`` through ``model`` (edits in force) and feed each hook's activations to ``sinks``.

    ``items`` may be a generator (streamed); then the progress bar counts batches without a total.
    """
    for h in hooks:
        model.check_hook(h)
    state: dict[str, torch.Tensor] = {}

    def make_hook(name: str):
        def fn(act: torch.Tensor, hook) -> None:
            sel = state["select"]
            flat = act.reshape(-1, act.shape[-1])[sel]
            for s in sinks:
                s.add(name, flat, state["labels"])

        return fn

    pad = model.tokenizer.pad_token_id or 0
    n_batches = -(-len(items) // batch_size) if isinstance(items, Sequence) else None
    fwd = [(h, make_hook(h)) for h in hooks]
    for ids, mask, lab in tqdm(token_batches(items, batch_size, pad), total=n_batches, desc=desc, disable=not progress):
        flat_lab = lab.reshape(-1).to(model.device)
        sel = flat_lab >= 0
        state["select"], state["labels"] = sel, flat_lab[sel]
        model.run_hooks(ids.to(model.device), mask.to(model.device), fwd)
        for s in sinks:
            s.end_batch()
    for s in sinks:
        s.close()


def neuron_stats(
    model: HookedLM, items: Sequence[LabelledText], *, batch_size: int = 32, progress: bool = True
) -> NeuronStats:
    """Per-neuron statistics of every layer's MLP neurons, split by concept label."""
    hooks = [model.mlp_hook(layer) for layer in range(model.n_layers)]
    stats = NeuronStats(hooks, model.d_mlp)
    run_and_cache(model, items, hooks, [stats], batch_size=batch_size, progress=progress)
    return stats
