"""The training loop every unlearning method runs in, on accelerate, through the hooked model.

Every forward pass goes through :meth:`HookedLM.hooked`, so earlier edits (pruned neurons,
SAE clamps) are in force while the weights change. One pass per micro-step carries all rows
the method needs (forget, retain, extra) so DDP sees one forward per backward.

accelerate does the rest: mixed precision (``bf16`` / ``fp16`` autocast; fp32 master
weights), gradient accumulation, multi-process data parallelism under ``accelerate launch``
(DDP; each process takes its share of every global batch) — no hand-written distributed
code. The retain budget is checked every ``eval_every`` steps on the validation split; when
it is crossed, training stops and the last state within it is restored.
"""

from __future__ import annotations

import logging
import math
import os
import random
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch

from mechunlearn.activations.capture import capture
from mechunlearn.core.config_types import check_choices
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.evaluation.budget import RetainBudget
from mechunlearn.models.hooked import HookedLM
from mechunlearn.training.context import Context
from mechunlearn.training.data import UnlearnData, stack_batches
from mechunlearn.training.precision import full_precision
from mechunlearn.training.weights import free_entries, keep_outside_masks, restore, unique_entries
from mechunlearn.unlearning.base import Batch, Method, Outputs, Step

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mechunlearn.training.epochs import EpochConfig

log = logging.getLogger(__name__)

MixedPrecision = Literal["no", "bf16", "fp16"]


# RMU's 300 steps checked every 60 crossed gemma-3-270m's budget at the first check and kept nothing
MAX_CHECK_INTERVAL = 20


@dataclass
class TrainConfig:
    """Args:
    steps: optimiser steps.
    lr: AdamW learning rate (linear warm-up over ``warmup_frac``, then cosine decay).
    batch_size: forget rows (and as many retain rows) per micro-step, over all processes.
    grad_accum: micro-steps per optimiser step.
    weight_decay, grad_clip: AdamW weight decay; max gradient norm.
    mixed_precision: ``no``, ``bf16`` or ``fp16`` (accelerate's autocast).
    gradient_checkpointing: recompute activations in the backward pass (HF's, through the bridge).
    eval_every: steps between retain-budget checks (``None``: 5 checks per run, at least one every
        ``MAX_CHECK_INTERVAL`` steps: a crossed check throws away every step since the last good one).
    seed: batch order and random targets.
    """

    steps: int = 40
    lr: float = 1e-5
    batch_size: int = 4
    grad_accum: int = 1
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    warmup_frac: float = 0.1
    mixed_precision: MixedPrecision = "no"
    gradient_checkpointing: bool = False
    eval_every: int | None = None
    seed: int = 0

    @classmethod
    def of(cls, method: Method, **overrides: Any) -> TrainConfig:
        """The loop settings for ``method``: its steps, lr and batch size, plus ``overrides``."""
        m = method.cfg
        return cls(**({"steps": m.steps, "lr": m.lr, "batch_size": m.batch_size} | overrides))

    def __post_init__(self) -> None:
        check_choices(self, "training option")
        if self.grad_accum < 1:
            raise MechUnlearnError(f"grad_accum must be at least 1, got {self.grad_accum}")
        if self.eval_every is not None and self.eval_every < 1:
            raise MechUnlearnError(f"eval_every must be at least 1 step, got {self.eval_every}")


@dataclass
class TrainResult:
    steps: int  # optimiser steps taken
    kept_step: int  # the step whose weights the model holds at the end
    tokens: int  # tokens seen (all processes, forget + retain + extra rows)
    wall_s: float
    curve: list[dict[str, Any]]
    stopped: str  # why training ended
    params_updated: int  # weight entries training could move
    peak_memory_mb: float
    peak_memory_kind: str
    budget_checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def first_loss(self) -> float:
        return self.curve[0]["loss"] if self.curve else float("nan")

    @property
    def last_loss(self) -> float:
        return self.curve[-1]["loss"] if self.curve else float("nan")


def peak_memory(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda max_memory_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process peak RSS"


def forward(
    model: HookedLM, module, batches: dict[str, Batch], hooks: list[str], stop: int | None, *, one_pass: bool = False
) -> dict[str, Outputs]:
    """Each batch's logits and captured activations (edits in force).

    By default each batch runs as its own pass at its own width: a retain passage of 100 tokens
    would otherwise pad every 20-token forget fact to 100 (on gemma-3-270m, half a step's time).
    ``one_pass`` stacks every batch's rows into one pass: under DDP one forward must answer one backward.
    """
    groups = [batches] if one_pass else [{k: v} for k, v in batches.items()]
    out = {}
    for group in groups:
        ids, mask, spans = stack_batches(model, list(group.values()))
        store: dict[str, torch.Tensor] = {}
        kwargs: dict[str, Any] = {"attention_mask": mask}
        if stop is not None:
            kwargs["stop_at_layer"] = stop
        with model.hooked(capture(hooks, store)):
            logits = module(ids, **kwargs)
        for (name, b), span in zip(group.items(), spans, strict=True):
            w = b.input_ids.shape[1]
            acts = {h: store[h][span, :w] for h in hooks}
            out[name] = Outputs(b, None if stop is not None else logits[span, :w], acts)
    return out


def warmup_cosine(total: int, warmup_frac: float) -> Callable[[int], float]:
    """The learning-rate factor of step ``step``: linear warm-up over ``warmup_frac`` of ``total``, then cosine to 0."""
    warm = max(1, int(warmup_frac * total))

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    return f


def next_batches(method: Method, ctx: Context, data: UnlearnData, size: int, rank: int, world: int) -> dict[str, Batch]:
    """The rows of one forward pass: this process's share of the next forget and retain batches, and the
    method's extra rows."""
    batches: dict[str, Batch] = {}
    if method.uses_forget:
        batches["forget"] = data.batch("forget", data.next_indices("forget", size)[rank::world])
        batches |= method.extra_batches(ctx, batches["forget"])
    if method.uses_retain:
        batches["retain"] = data.batch("retain", data.next_indices("retain", size)[rank::world])
    return batches


def step_loss(
    method: Method,
    ctx: Context,
    module: torch.nn.Module,
    batches: dict[str, Batch],
    hooks: list[str],
    stop: int | None,
    *,
    one_pass: bool = False,
) -> dict[str, torch.Tensor]:
    """``method``'s loss parts on ``batches``: the forward pass (through ``module``, the prepared bridge)
    and the objective, ``{"loss": total, ...}``."""
    outs = forward(ctx.model, module, batches, hooks, stop, one_pass=one_pass)
    extra = {k: v for k, v in outs.items() if k not in ("forget", "retain")}
    return method.loss(Step(outs.get("forget"), outs.get("retain"), extra, ctx))


def budget_check(
    model: HookedLM, budget: RetainBudget, probe: Callable[[HookedLM], dict[str, float]] | None
) -> dict[str, float]:
    """The retain loss (and the probe's figures) of the model as it is now, measured in eval mode and in full
    precision (under bf16 autocast, gemma-3-270m's batched fact scoring strayed 0.04 nats from its float32 value)."""
    was = model.hf_model.training
    model.hf_model.eval()
    with full_precision(model.bridge):
        loss = budget.loss(model)
        if probe is not None:
            loss |= probe(model)
    model.hf_model.train(was)
    return loss


def train(
    model: HookedLM,
    method: Method,
    data: UnlearnData,
    cfg: TrainConfig,
    params: list[torch.nn.Parameter],
    *,
    masks: dict[int, Callable[[torch.Tensor], torch.Tensor]] | None = None,
    budget: RetainBudget | None = None,
    lora: Any = None,
    probe: Callable[[HookedLM], dict[str, float]] | None = None,
    on_step: Callable[[dict], None] | None = None,
    concept: Any = None,
) -> TrainResult:
    """Train ``params`` (others frozen) on ``method``'s objective for ``cfg.steps`` steps.

    ``masks`` maps ``id(param)`` to a function projecting its gradient (localised updates);
    after every step the same function is applied to the change, so entries it zeroes stay
    bit-identical. ``budget`` (calibrated on the starting model) is checked every ``eval_every`` steps;
    ``probe`` (e.g. forget-fact accuracy on the validation split) is recorded beside each check.
    A non-finite loss stops training and restores the weights of the last check within the budget
    (without a budget: the starting weights); ``kept_step`` says which.
    """
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    torch.manual_seed(cfg.seed)
    ctx = Context(model, data, random.Random(cfg.seed), lora=lora, concept=concept, fine_tune=train_epochs)
    if method.uses_forget and not data.forget:
        raise MechUnlearnError(f"method '{method.name}' needs forget data and there is none")
    if method.uses_retain and not data.retain:
        raise MechUnlearnError(f"method '{method.name}' needs retain data and there is none")
    method.setup(ctx)  # before the accelerator: a setup may train a model of its own (whp's reinforced copy)
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        # one process: each run sets its own precision (accelerate keeps one state per process otherwise)
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    acc = Accelerator(
        mixed_precision=cfg.mixed_precision,
        gradient_accumulation_steps=cfg.grad_accum,
        cpu=model.device.type == "cpu",
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    world, rank = acc.num_processes, acc.process_index
    if world > 1 and model.model_type == "gpt2":
        raise MechUnlearnError(
            "multi-process unlearning does not support GPT-2-family models: the bridge trains split q/k/v "
            "views of the fused c_attn matrix, which DDP does not keep in sync; run it in one process"
        )
    if cfg.batch_size % world:
        raise MechUnlearnError(f"batch_size {cfg.batch_size} must be a multiple of the {world} processes")
    if method.uses_reference() and lora is None:
        ctx.frozen()  # copied now, before the first update

    chosen = {id(p) for p in params}
    saved_flags = [(p, p.requires_grad) for p in model.hf_model.parameters()]
    for p, _ in saved_flags:
        p.requires_grad_(id(p) in chosen)
    originals = {id(p): p.detach().clone() for p in params if masks and id(p) in masks}
    handles = [p.register_hook(masks[id(p)]) for p in params if masks and id(p) in masks]
    hooks, stop = method.hooks(model), method.stop_at_layer(model)
    if stop is not None and stop >= model.n_layers:
        stop = None

    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(cfg.steps, cfg.warmup_frac))
    module, opt = acc.prepare(model.bridge, opt)
    if cfg.gradient_checkpointing:
        model.hf_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.hf_model.train()  # HF checkpoints only in training mode (dropout-free models then match eval)
    every = cfg.eval_every or max(1, min(cfg.steps // 5, MAX_CHECK_INTERVAL))
    # the last weights known good, and their step: refreshed only at a passed budget check (a copy
    # of every weight each step would cost as much memory as the model), so without a budget it is step 0
    snapshot, snapped = {id(p): p.detach().clone() for p in params}, 0
    kept, curve, checks, tokens, stopped = 0, [], [], 0, f"ran all {cfg.steps} steps"
    t0 = time.perf_counter()
    try:
        for step in range(1, cfg.steps + 1):
            parts_sum: dict[str, float] = {}
            for _ in range(cfg.grad_accum):
                with acc.accumulate(module):
                    batches = next_batches(method, ctx, data, cfg.batch_size, rank, world)
                    tokens += sum(b.tokens for b in batches.values()) * world
                    parts = step_loss(method, ctx, module, batches, hooks, stop, one_pass=world > 1)
                    acc.backward(parts["loss"])
                    if acc.sync_gradients and cfg.grad_clip:
                        acc.clip_grad_norm_(params, cfg.grad_clip)
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                    for k, v in parts.items():
                        parts_sum[k] = parts_sum.get(k, 0.0) + float(v.detach()) / cfg.grad_accum
            sched.step()
            if originals:
                keep_outside_masks(params, originals, masks)
            point = {"step": step, "tokens": tokens, "lr": sched.get_last_lr()[0]} | {
                k: float(f"{v:.6g}") for k, v in parts_sum.items()
            }
            if not all(math.isfinite(v) for v in parts_sum.values()):
                restore(params, snapshot)
                kept = snapped
                stopped = f"loss became non-finite at step {step}; kept step {kept}" + (
                    " (the starting weights)" if kept == 0 else ", the last check within the retain budget"
                )
                curve.append(point)
                break
            if budget is not None and (step % every == 0 or step == cfg.steps):
                loss = budget_check(model, budget, probe)
                ok = loss["retain_loss"] <= budget.max_drop
                point["retain_validation"] = {k: round(v, 4) for k, v in loss.items()}
                checks.append({"step": step, **point["retain_validation"], "within_budget": ok})
                log.info("budget check at step %d: %s", step, checks[-1])
                if not ok:
                    restore(params, snapshot)
                    stopped = (
                        f"retain budget crossed at step {step} (retain loss {loss['retain_loss']:.4f} > "
                        f"{budget.max_drop}); kept the weights of step {kept}, the last check within it"
                    )
                    curve.append(point)
                    break
                snapshot, snapped = {id(p): p.detach().clone() for p in params}, step
                kept = step
            elif budget is None:
                kept = step
            curve.append(point)
            if on_step is not None:
                on_step(point)
        else:
            if budget is not None and kept != cfg.steps:
                restore(params, snapshot)
    finally:
        for h in handles:
            h.remove()
        if cfg.gradient_checkpointing:
            model.hf_model.gradient_checkpointing_disable()
        model.hf_model.eval()
        acc.unwrap_model(module, keep_fp32_wrapper=False)  # evaluation after training runs without autocast
        for p, flag in saved_flags:
            p.requires_grad_(flag)
        acc.free_memory()
    moved = unique_entries([p for p in params if id(p) not in originals])
    moved += sum(free_entries(masks[id(p)], p) for p in params if id(p) in originals)
    mem, kind = peak_memory(model.device)
    return TrainResult(
        steps=len(curve),
        kept_step=kept,
        tokens=tokens,
        wall_s=round(time.perf_counter() - t0, 2),
        curve=curve,
        stopped=stopped,
        params_updated=moved,
        peak_memory_mb=round(mem, 1),
        peak_memory_kind=kind,
        budget_checks=checks,
    )


def train_epochs(
    model: HookedLM,
    objective: str,
    texts: Sequence[Any],
    cfg: EpochConfig,
    *,
    bucket: bool = False,
    max_len: int | None = None,
    options: dict[str, Any] | None = None,
    on_step: Callable[[dict], None] | None = None,
    embeddings: bool = True,
) -> TrainResult:
    """Train all of ``model``'s weights on ``objective`` (a registered method reading retain rows only:
    ``sft``, ``distill``) for ``cfg.epochs`` passes over ``texts`` (strings or ready examples).
    ``bucket`` batches texts of similar length together; ``embeddings=False`` leaves the token embedding
    and unembedding matrices frozen."""
    from mechunlearn.unlearning import make_method

    data = UnlearnData(
        model, [], list(texts), max_len=max_len or model.n_ctx, seed=cfg.seed, bucket=cfg.batch_size if bucket else 0
    )
    steps = max(1, cfg.epochs * data.batches_per_pass("retain", cfg.batch_size))
    method = make_method(objective, {"steps": steps, "lr": cfg.lr, "batch_size": cfg.batch_size} | (options or {}))
    train_cfg = TrainConfig.of(method, weight_decay=cfg.weight_decay, warmup_frac=0.05, seed=cfg.seed)
    return train(model, method, data, train_cfg, model.trainable_parameters(embeddings=embeddings), on_step=on_step)
