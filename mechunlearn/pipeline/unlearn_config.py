"""Configuration of ``unlearn`` runs: a dataclass that round-trips through ``config.json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mechunlearn.core.config_types import check_choices
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.pipeline.config import CheckOptions, JsonConfig, check_budget, check_start
from mechunlearn.training.data import DataKind, TokenKind
from mechunlearn.training.loop import MixedPrecision, TrainConfig


@dataclass(frozen=True)
class Recipe:
    """What ``unlearn`` runs when no ``--method`` is given; chosen on gemma-3-270m's validation split
    (``bench/tune_unlearn.py``, bench/RESULTS.md "Gradient unlearning").

    NPO localised to the MLP neurons an attribution ranking puts first: full-weight methods either
    forgot only the facts they were trained on or cost other facts and text beyond the budget, while
    updates confined to the top 1/36 of the MLP neurons (1,024 on gemma-3-270m) forgot 19% of the
    *held-out* known Harry Potter validation facts by step 40 (4 of 21, multiple choice; the committed
    rerun, bench/unlearn_tuning/gemma-3-270m.jsonl) and 13% of the test split's (5 of 38), and kept every
    other known fact's multiple-choice answer — though not all their greedy completions (test split: other
    facts 0.53 -> 0.37 greedy; the selection looked at multiple choice and the budget only).
    ``alpha`` 6 (open-unlearning's NPO: 1) weights the retain term: the strongest forgetting that
    stayed within the default budget for all 40 steps (alpha 4 forgot as much but crossed it at step
    24); ``lr`` 1e-4 suits the few weights that move (full-weight NPO at 1e-4 crosses within 8 steps).
    """

    method: str = "npo"
    options: tuple[tuple[str, Any], ...] = (("alpha", 6.0),)
    lr: float = 1e-4
    localize_share: float = 1 / 36


RECIPE = Recipe()
NAMED_DATA = ("synth", "default")  # --forget-data / --retain-data names that are not files
DEFAULT_UNLEARN_MAX_RETAIN_DROP = 0.10  # unlearn's own default; prune and clamp keep 0.03 (see UnlearnConfig)


def default_localize_k(model) -> int:
    """The recipe's K: ``RECIPE.localize_share`` of the model's MLP neurons (1,024 on gemma-3-270m)."""
    return max(1, round(RECIPE.localize_share * model.n_layers * model.d_mlp))


@dataclass
class UnlearnConfig(JsonConfig, CheckOptions):
    """Everything an ``unlearn`` run needs; saved as ``config.json`` beside its outputs.

    Args:
        concept: concept name or folder.
        model: checkpoint folder, .gguf, real model name or hub id; ``None`` for the bundled model.
        from_dir: an earlier ``prune`` / ``clamp`` / ``unlearn`` output to continue from; its
            edits stay in force while training (pruned neurons exactly zero, clamps on).
        method: registered unlearning method (``mechunlearn.unlearning.METHODS``) at its own defaults;
            ``None``: the default :class:`Recipe` (localised NPO), resolved when the model is loaded and
            written out in full to ``config.json``.
        method_options: the method's config (``-o KEY=VALUE``), e.g. ``beta`` for ``npo``.
        steps / epochs: optimiser steps, or passes over the forget data (the retain data for a method
            that reads no forget data, e.g. ``sft``) (exclusive); ``None``: the method's default.
        lr, batch_size: override the method's defaults.
        grad_accum, mixed_precision, gradient_checkpointing, eval_every: see ``training.loop.TrainConfig``.
        train_embeddings: also train the token embedding / unembedding matrix (off by default: with
            a large vocabulary, Adam's first steps move every one of its rows by about the learning
            rate and shift the whole output distribution; on gemma-3-270m's 262k-token tied matrix
            that alone raised retain perplexity by half in 8 steps at lr 1e-5).
        lora: ``None`` (full weights) or a LoRA spec ``r=8,alpha=16,targets=...`` ("" for the defaults).
        localize: update only the weights of the top-K ranked units (MLP neurons by default).
        localize_from: a ranking folder (neurons or SAE features) to localise to instead of ranking anew
            (K: ``localize``, else the recipe's share of the MLP neurons).
        localize_method: the neuron ranking computed for ``localize`` without ``localize_from``.
        localize_options: that ranking's options (``--rank-option``), e.g. ``forget_from=synth``.
        max_retain_drop: retain budget checked during training (``None``: off). 0.10, not ``prune``'s
            0.03: the budget's ``facts_lost`` counts lost *confidence* in the right choice, and on
            gemma-3-270m every configuration that forgot held-out facts cost the known retain facts
            4-10% of it within 8-24 steps while keeping all their multiple-choice answers.
        forget_data / retain_data: txt or jsonl files replacing a side's default data; ``synth`` the
            model's own corpus (``mechunlearn synth``: its concept passages / its keep-side text);
            ``default`` the side's data without this option, to train on it beside the others.
        forget_sample: train on a seeded sample of this many forget examples (``None``: all of them). Methods
            whose setup reads every forget example (whp's reinforced copy and generic labels) cost in
            proportion: on gemma's own 1,346 passages whp's setup alone takes hours on 2 CPU cores.
        forget_tokens: which tokens of a forget passage are training targets: ``all`` (every one after the
            first) or ``names`` (only those of the concept's keywords and ``entities.txt`` names, where
            its knowledge is read out; passages naming none are left out). Facts train on their answers.
        forget_kind: the default forget data (``None``: the method's own, ``facts`` for all but RMU's
            ``all``): ``facts`` (the known train-split forget facts, trained
            on their answer tokens), ``passages`` (the forget corpus) or ``all``.
        max_len: tokens per training example.
        test_prompts: prompts whose greedy continuations are recorded before and after.
        out, device, dtype, seed: as for ``prune``.
    """

    concept: str = "harry_potter"
    model: str | None = None
    from_dir: str | None = None
    method: str | None = None
    method_options: dict[str, Any] = field(default_factory=dict)
    steps: int | None = None
    epochs: float | None = None
    lr: float | None = None
    batch_size: int | None = None
    grad_accum: int = 1
    mixed_precision: MixedPrecision = "no"
    gradient_checkpointing: bool = False
    eval_every: int | None = None
    train_embeddings: bool = False
    lora: str | None = None
    localize: int | None = None
    localize_from: str | None = None
    localize_method: str = "attribution"
    localize_options: dict[str, Any] = field(default_factory=dict)
    max_retain_drop: float | None = DEFAULT_UNLEARN_MAX_RETAIN_DROP
    forget_data: list[str] = field(default_factory=list)
    retain_data: list[str] = field(default_factory=list)
    forget_kind: DataKind | None = None
    forget_sample: int | None = None
    forget_tokens: TokenKind = "all"
    max_len: int = 128
    test_prompts: list[str] = field(default_factory=list)
    out: str | None = None
    device: str | None = None
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        from mechunlearn.training.lora import LoraSpec

        check_start(self)
        if self.steps is not None and self.epochs is not None:
            raise MechUnlearnError("give either --steps or --epochs, not both")
        if self.epochs is not None and self.epochs <= 0:
            raise MechUnlearnError(f"epochs must be positive, got {self.epochs}")
        if self.lora is not None and (self.localize is not None or self.localize_from is not None):
            raise MechUnlearnError(
                "--lora and --localize cannot be combined: a LoRA update is dense in every matrix it adapts"
            )
        if self.localize is not None and self.localize < 1:
            raise MechUnlearnError(f"--localize must be a positive number of units, got {self.localize}")
        if self.forget_sample is not None and self.forget_sample < 1:
            raise MechUnlearnError(f"--forget-sample must be a positive number of examples, got {self.forget_sample}")
        if self.max_len < 2:
            raise MechUnlearnError(f"max_len must be at least 2 tokens, got {self.max_len}")
        check_budget(self.max_retain_drop)
        check_choices(self)
        if self.localize_options:
            from mechunlearn.ranking import RANKERS

            RANKERS.build_config(self.localize_method, self.localize_options)  # an unknown option: one error now
        self.make_method()  # unknown method / option, lr <= 0, steps < 1: one error now
        if self.lora is not None:
            LoraSpec.parse(self.lora)
        TrainConfig(
            mixed_precision=self.mixed_precision, grad_accum=self.grad_accum, eval_every=self.eval_every
        )  # validates them

    def _with_recipe(self) -> UnlearnConfig:
        """``method=None``: the recipe's method, options and lr filled in (not its K, which needs the model)."""
        if self.method is not None:
            return self
        r = RECIPE
        return dataclasses.replace(
            self,
            method=r.method,
            method_options=dict(r.options) | self.method_options,
            lr=self.lr if self.lr is not None else r.lr,
        )

    def resolved(self, model) -> UnlearnConfig:
        """This config with every default that depends on the method or model made explicit: the
        recipe (without ``--method``), its K for ``model``, and the method's forget data kind."""
        from mechunlearn.unlearning import get_method

        cfg, localize = self._with_recipe(), self.localize
        if self.method is None and localize is None and self.lora is None:
            localize = default_localize_k(model)
        kind = self.forget_kind or get_method(cfg.method).forget_kind
        return dataclasses.replace(cfg, localize=localize, forget_kind=kind)

    def make_method(self, n_forget: int | None = None, n_retain: int | None = None):
        """The method with its options and the run-wide overrides (lr, steps or epochs, batch size).

        ``epochs`` become steps from the size of the side the method samples its batches from:
        ``n_forget`` forget rows, or ``n_retain`` retain rows for a method that reads no forget rows (sft).
        """
        import math

        from mechunlearn.unlearning import get_method, make_method

        if self.method is None:
            return self._with_recipe().make_method(n_forget, n_retain)
        opts = dict(self.method_options)
        for key in ("lr", "batch_size", "steps"):
            if getattr(self, key) is not None:
                opts[key] = getattr(self, key)
        n = n_forget if get_method(self.method).uses_forget else n_retain
        if self.epochs is not None and n is not None:
            bs = opts.get("batch_size") or make_method(self.method, {}).cfg.batch_size
            opts["steps"] = max(1, math.ceil(self.epochs * n / bs))
        return make_method(self.method, opts)
