"""``HookedLM``: the hooked model every stage of mechunlearn takes and returns.

It holds a TransformerLens ``TransformerBridge`` (hooks, caches) over the raw HF module
(export), the tokenizer, and the stack of edits in force. Every forward pass the library
makes goes through :meth:`HookedLM.hooked`, so edits apply everywhere (evaluation,
ranking, retraining) and no hook outlives the call that added it.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models.tokens import special_prefix

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge


def hf_name(key: str) -> str:
    """A bridge state-dict or buffer name with the bridge's wrapper segments removed."""
    return key.replace("._original_component", "").removeprefix("_original_component.")


def fingerprint(config, state_dict: dict[str, torch.Tensor]) -> str:
    """A short hash of the model's config and weights (strided sample of every tensor).

    Cheap even for billions of parameters, yet any edited neuron changes it: every tensor
    contributes its shape, its sum and a strided sample of at most 4096 entries.
    """
    h = hashlib.sha256()
    cfg = config.to_dict()
    for key in ("_name_or_path", "transformers_version", "torch_dtype", "dtype"):
        cfg.pop(key, None)
    h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    with torch.no_grad():
        for name, t in sorted(state_dict.items()):
            flat = t.detach().reshape(-1)
            step = max(1, flat.numel() // 4096)
            sample = flat[::step].float().cpu()
            h.update(name.encode())
            h.update(str(tuple(t.shape)).encode())
            h.update(f"{flat.float().sum().item():.6e}".encode())
            h.update(sample.numpy().tobytes())
    return h.hexdigest()[:16]


HookFn = Callable[[torch.Tensor, Any], torch.Tensor | None]
FwdHook = tuple[str, HookFn]


@dataclass
class HookedLM:
    """A causal LM with TransformerLens hook points and a stack of edits.

    Attributes:
        bridge: the TransformerBridge; ``bridge.original_model`` is the HF module.
        tokenizer: the model's own HF tokenizer.
        name: the model's name (``tiny-world-gpt2`` for the bundled model, else the folder or hub id given).
        source_path: the folder or id it was loaded from.
        edits: edits in force, applied as forward hooks on every pass, in order.
    """

    bridge: TransformerBridge
    tokenizer: Any
    name: str
    source_path: str
    edits: list[Any] = field(default_factory=list)

    # ---- shape facts -------------------------------------------------------------------
    @property
    def hf_model(self) -> torch.nn.Module:
        """The Hugging Face module the bridge wraps (raw weights, exportable)."""
        return self.bridge.original_model

    @property
    def n_layers(self) -> int:
        return int(self.bridge.cfg.n_layers)

    @property
    def d_mlp(self) -> int:
        return int(self.bridge.cfg.d_mlp)

    @property
    def d_model(self) -> int:
        return int(self.bridge.cfg.d_model)

    @property
    def n_ctx(self) -> int:
        return int(self.bridge.cfg.n_ctx)

    @property
    def device(self) -> torch.device:
        return next(self.hf_model.parameters()).device

    @property
    def model_type(self) -> str:
        return str(self.hf_model.config.model_type)

    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights under their Hugging Face names (the bridge's wrapper segments removed).

        The bridge wraps HF submodules in place, so ``hf_model.state_dict()`` has keys like
        ``transformer.h.0._original_component.mlp...`` plus views it adds (split q/k/v).
        This keeps exactly the keys a fresh HF model of the same config has.
        """
        from transformers import AutoModelForCausalLM

        if not hasattr(self, "_hf_keys"):
            with torch.device("meta"):
                fresh = AutoModelForCausalLM.from_config(self.hf_model.config)
            self._hf_keys = list(fresh.state_dict().keys())
        wanted, out = set(self._hf_keys), {}
        for key, value in self.hf_model.state_dict().items():
            clean = hf_name(key)
            if clean in wanted and clean not in out:
                out[clean] = value
        missing = wanted - out.keys()
        if missing:
            raise RuntimeError(f"could not map bridge weights back to HF names: missing {sorted(missing)[:5]}")
        return {k: out[k] for k in self._hf_keys}

    def trainable_parameters(self, *, embeddings: bool = True) -> list[torch.nn.Parameter]:
        """Parameters to optimise when training through the bridge.

        The bridge computes with its own views of the HF weights (e.g. q/k/v split out of a
        fused QKV matrix), so gradients land on those views; updating them in place updates
        the HF weights they share storage with. Parameters the bridge adds with no HF
        counterpart (e.g. a zero unembedding bias) are left frozen, so training never
        produces weights a plain HF checkpoint could not hold. ``embeddings=False`` leaves out
        the token embedding and (tied or not) unembedding matrices.
        """
        backed = {t.untyped_storage().data_ptr() for t in self.hf_state_dict().values()}
        params = [p for p in self.bridge.parameters() if p.untyped_storage().data_ptr() in backed]
        if embeddings:
            return params
        skip = {self.hf_model.get_input_embeddings().weight.data_ptr()}
        if self.hf_model.get_output_embeddings() is not None:
            skip.add(self.hf_model.get_output_embeddings().weight.data_ptr())
        return [p for p in params if p.data_ptr() not in skip]

    def fingerprint(self) -> str:
        """Hash of config and weights as they are now (see :func:`fingerprint`)."""
        return fingerprint(self.hf_model.config, self.hf_state_dict())

    # ---- hook points -------------------------------------------------------------------
    @staticmethod
    def mlp_hook(layer: int) -> str:
        """Hook on MLP neuron activations ``[batch, pos, d_mlp]`` of block ``layer``."""
        return f"blocks.{layer}.mlp.hook_post"

    @staticmethod
    def resid_hook(layer: int) -> str:
        """Hook on the residual stream ``[batch, pos, d_model]`` after block ``layer``."""
        return f"blocks.{layer}.hook_resid_post"

    def hook_names(self) -> list[str]:
        return sorted(self._hook_set())

    def _hook_set(self) -> frozenset[str]:
        # the bridge rebuilds hook_dict on every access (milliseconds); hook points never change
        if "_hooks" not in self.__dict__:
            self.__dict__["_hooks"] = frozenset(self.bridge.hook_dict.keys())
        return self.__dict__["_hooks"]

    def check_hook(self, name: str) -> str:
        """Return ``name`` if it is a hook point of this model, else a clear error."""
        names = self._hook_set()
        if name in names:
            return name
        close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
        example = [n for n in self.hook_names() if n.startswith("blocks.0.")]
        raise MechUnlearnError(
            f"unknown hook point '{name}'"
            + (f"; did you mean {close}?" if close else "")
            + f" Valid hook points are e.g. {example[:12]} (same for blocks 0..{self.n_layers - 1})"
        )

    @contextlib.contextmanager
    def hooked(self, extra: Sequence[FwdHook] = ()) -> Iterator[HookedLM]:
        """Register the edits in force plus ``extra`` hooks; all are removed on exit."""
        hooks: list[FwdHook] = [h for e in self.edits for h in e.hooks(self)]
        hooks += list(extra)
        for name, _ in hooks:
            self.check_hook(name)
        with self.bridge.hooks(fwd_hooks=hooks):
            yield self

    # ---- running -----------------------------------------------------------------------
    def special_prefix(self) -> list[int]:
        """The tokens before every text: the special tokens (e.g. BOS) the tokenizer puts first by
        default (may be none), then the prompt of any edit in force that has one (a guardrail).

        mechunlearn tokenizes exactly as ``tokenizer(text)`` does under plain HF defaults, so a
        model is measured here as its users run it (no hand-added BOS). Special tokens appended
        at the end by default (an EOS) are dropped: a prompt must stay open for its answer.
        Measurements skip these tokens (:meth:`content_mask`): they carry no text.
        """
        ids = special_prefix(self.tokenizer)
        for e in self.edits:
            if hasattr(e, "prefix_ids"):
                ids = ids + e.prefix_ids(self)
        return ids

    def encode(self, text: str, *, prepend_bos: bool = True) -> list[int]:
        """Token ids of ``text`` as the tokenizer's defaults give them (its BOS, if it adds one).

        ``prepend_bos=False`` gives the bare text tokens (a continuation of earlier text).
        """
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return (self.special_prefix() if prepend_bos else []) + ids

    def encode_continuation(self, text: str) -> list[int]:
        """Token ids of ``text`` continuing a prompt: ``" " + text`` without special tokens."""
        return list(self.tokenizer(" " + text.strip(), add_special_tokens=False)["input_ids"])

    def pad(self, seqs: Sequence[Sequence[int]], side: str = "right") -> tuple[torch.Tensor, torch.Tensor]:
        """Pad token lists (``side`` right or left) into ``input_ids, attention_mask`` on the model's device.

        Left padding is safe: the bridge derives position ids from the attention mask.
        """
        width = max(len(s) for s in seqs)
        pad_id = self.tokenizer.pad_token_id or 0
        ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            span = slice(0, len(s)) if side == "right" else slice(width - len(s), width)
            ids[i, span] = torch.tensor(s, dtype=torch.long)
            mask[i, span] = 1
        return ids.to(self.device), mask.to(self.device)

    def content_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """Of a right-padded batch's ``attention_mask``, the text tokens: real, and not the special prefix
        (BOS, and a guardrail's prompt) put first, which carries no text (and on Llama- and Gemma-style models a
        residual stream tens of times larger than any other token's)."""
        content = mask.clone()
        content[:, : len(self.special_prefix())] = 0
        return content

    def logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        extra: Sequence[FwdHook] = (),
        logits_to_keep: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``[batch, pos, vocab]`` with the edits in force (and ``extra`` hooks).

        ``logits_to_keep`` (1-D positions) computes the unembedding only there: ``[batch, len(keep), vocab]``.
        """
        kwargs = {} if logits_to_keep is None else {"logits_to_keep": logits_to_keep}
        with self.hooked(extra):
            return self.bridge(input_ids, attention_mask=attention_mask, **kwargs)

    def run_hooks(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, extra: Sequence[FwdHook]) -> None:
        """A forward pass for ``extra`` hooks' sake (edits in force), stopped after the last block they read.

        Uses the bridge's ``stop_at_layer``: caching activations of block ``l`` never pays for the
        blocks after it or for the unembedding (most of the cost on a 262k-token vocabulary).
        """
        blocks = [re.match(r"blocks\.(\d+)\.", name) for name, _ in extra]
        stop = max(int(b.group(1)) for b in blocks) + 1 if blocks and all(blocks) else None
        with self.hooked(extra):
            if stop is None:  # a hook outside the blocks (final norm, unembedding): the whole model
                self.bridge(input_ids, attention_mask=attention_mask)
            elif stop < self.n_layers:
                self.bridge(input_ids, attention_mask=attention_mask, stop_at_layer=stop)
            else:  # the last block: the HF decoder without its LM head (right padding needs no position fix)
                self.hf_model.base_model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)


def model_slug(model: HookedLM) -> str:
    """Folder name for a model: last path component of a folder (the run's, for the ``model/`` checkpoint
    of a mechunlearn output folder), ``org--name`` for a hub id."""
    p = Path(model.source_path)
    if not p.is_dir():
        return model.name.replace("/", "--")
    return p.parent.name if (p.parent / "edits.json").is_file() else p.name
