"""What an unlearning method is: an objective over a forget batch and a retain batch.

A method is one small file under ``mechunlearn/unlearning/methods/``: a config dataclass
(its hyperparameters, documented, with defaults) and a class decorated with
``@register_method(name, ConfigClass)`` that computes its loss from a :class:`Step`
(the model's outputs on the step's forget and retain rows). The training loop
(:mod:`mechunlearn.training.loop`), the CLI, the report and the shared tests pick every
registered method up by name; nothing else needs to change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch

from mechunlearn.core.config_types import check_choices
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.registry import Registry

if TYPE_CHECKING:
    from mechunlearn.models.hooked import HookedLM
    from mechunlearn.training.context import Context


@dataclass
class Batch:
    """Right-padded token rows. ``loss_mask[b, t]`` is 1 where token ``t`` is a training target
    (every real token of a passage after the first; only the answer tokens of a fact)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    loss_mask: torch.Tensor
    index: list[int]  # each row's example index in its pool (forget or retain)
    content_mask: torch.Tensor | None = None  # real tokens after the tokenizer's special prefix (BOS)

    @property
    def content(self) -> torch.Tensor:
        """Where activation losses count: real tokens, not padding and not the BOS position.

        A BOS position carries no text, and on Llama- and Gemma-style models its residual stream
        is tens of times larger than any other token's (gemma-3-270m, block 4: ~26,000 against
        ~2,500): an activation loss that counted it would spend itself on that one position.
        """
        return self.attention_mask if self.content_mask is None else self.content_mask

    @property
    def tokens(self) -> int:
        return int(self.attention_mask.sum())


@dataclass
class Outputs:
    """One side's (forget or retain) share of a step's forward pass."""

    batch: Batch
    logits: torch.Tensor | None  # [b, t, vocab]; None when the method stops before the unembedding
    acts: dict[str, torch.Tensor]  # activations of the hook points the method asked for


@dataclass
class Step:
    """What a method's loss sees: outputs on the forget and retain rows, and the run's helpers."""

    forget: Outputs | None  # None for methods that do not use forget rows
    retain: Outputs | None  # None for methods that do not use retain rows
    extra: dict[str, Outputs]
    ctx: Context  # reference model, precomputed values, the run's rng


@dataclass
class TrainDefaults:
    """Hyperparameters every method has; each method's config overrides the defaults it wants."""

    lr: float = 1e-5
    steps: int = 40
    batch_size: int = 4


class Method:
    """Base class of unlearning methods.

    Class attributes a method may set:
        name: registered name.
        config_cls: its config dataclass.
        uses_forget / uses_retain: the loss reads forget / retain rows (``ga`` reads no retain rows,
            ``sft`` no forget rows: those are not even computed).
        forget_kind: the default forget data it was designed for: ``facts`` (prompt + answer, loss on
            the answer) or ``all`` (passages too; RMU steers activations on any concept text).
        forget_source: where that default comes from: ``concept`` (the concept folder) or
            ``synth_answers`` (the model's own questions answered under the guardrail, ``mechunlearn synth``).
    Methods override :meth:`loss` and, if they need them, :meth:`uses_reference` (a frozen copy of
    the starting model: KL terms, RMU's retain term), :meth:`extra_batches` (more rows in the same
    forward pass, e.g. Yao et al.'s mismatched answers), :meth:`hooks` (activations to capture),
    :meth:`stop_at_layer` (skip the rest of the model), :meth:`trainable` (restrict the
    parameters, e.g. RMU's few MLP output matrices) and :meth:`setup` (precompute on the
    unchanged model, e.g. Who's Harry Potter's generic labels).
    """

    name: ClassVar[str] = ""
    config_cls: ClassVar[type] = TrainDefaults
    uses_forget: ClassVar[bool] = True
    uses_retain: ClassVar[bool] = True
    forget_kind: ClassVar[str] = "facts"
    forget_source: ClassVar[str] = "concept"  # or "synth_answers": `mechunlearn synth`'s answers.jsonl

    def __init__(self, config: Any) -> None:
        self.cfg = config

    @classmethod
    def check_concept(cls, concept) -> None:
        """Refuse, before any model loads, a concept that lacks what this method reads from its folder."""

    def uses_reference(self) -> bool:
        """Whether :meth:`loss` calls ``step.ctx.reference_logits`` / ``reference_acts``."""
        return False

    def extra_batches(self, ctx: Context, forget: Batch) -> dict[str, Batch]:
        """More rows to run in the step's forward pass, by name (see ``Step.extra``)."""
        return {}

    def setup(self, ctx: Context) -> None:
        """Called once on the unchanged model before training."""

    def hooks(self, model: HookedLM) -> list[str]:
        """Hook points whose activations (with gradients) the loss reads."""
        return []

    def stop_at_layer(self, model: HookedLM) -> int | None:
        """Stop the forward pass after this many blocks (``None``: the whole model with logits)."""
        return None

    def trainable(self, model: HookedLM) -> list[torch.nn.Parameter] | None:
        """The parameters this method may update (``None``: every trainable one)."""
        return None

    def loss(self, step: Step) -> dict[str, torch.Tensor]:
        """``{"loss": total, "forget": ..., "retain": ...}`` (the parts are logged on the curve)."""
        raise NotImplementedError


METHODS: Registry[type[Method]] = Registry("unlearning method")


def register_method(name: str, config_cls: type) -> Callable[[type[Method]], type[Method]]:
    """Register an unlearning method class under ``name`` with its config dataclass."""

    def deco(cls: type[Method]) -> type[Method]:
        cls.name, cls.config_cls = name, config_cls
        return METHODS.register(name, config_cls)(cls)

    return deco


def get_method(name: str) -> type[Method]:
    return METHODS.get(name)


def make_method(name: str, options: dict[str, Any] | None = None) -> Method:
    """The method ``name`` with its config built from ``options`` (unknown keys: one error naming them
    and, if another method has that option, which one)."""
    cfg = METHODS.build_config(name, options)
    if cfg.lr <= 0:
        raise MechUnlearnError(f"lr must be a positive learning rate, got {cfg.lr}")
    if cfg.steps < 1:
        raise MechUnlearnError(f"steps must be at least 1, got {cfg.steps}")
    if cfg.batch_size < 1:
        raise MechUnlearnError(f"batch_size must be at least 1, got {cfg.batch_size}")
    return METHODS.get(name)(cfg)


def method_defaults(name: str) -> dict[str, Any]:
    """The documented defaults of method ``name``'s config."""
    return METHODS.defaults(name)


RetainLoss = Literal["nll", "kl"]


@dataclass
class RetainTermDefaults(TrainDefaults):
    """Defaults of methods with open-unlearning's retain term: ``alpha * (NLL_retain | KL(frozen || current))``."""

    alpha: float = 1.0
    retain_loss: RetainLoss = "nll"

    def __post_init__(self) -> None:
        check_choices(self, "unlearning method option")


class RetainTermMethod(Method):
    """A method whose retain term is ``retain_loss`` (the frozen reference only for ``kl``)."""

    def uses_reference(self) -> bool:
        return self.cfg.retain_loss == "kl"
