"""The gradient-unlearning commands: ``unlearn``, ``filter`` and ``relearn`` (registered in
:mod:`mechunlearn.cli.app`)."""

from __future__ import annotations

from pathlib import Path

import typer

from mechunlearn.cli.options import (
    CHECKS_HELP,
    LORA_DEFAULT,
    UNLEARNING_METHODS,
    budget_option,
    check_list,
    choices,
    merged,
    parse_options,
)
from mechunlearn.core.progress import say


def unlearn_cmd(
    concept: str | None = typer.Option(None, help="Concept name or folder. [default: harry_potter]"),
    method: str | None = typer.Option(
        None,
        help=f"{choices(UNLEARNING_METHODS)}, at its own defaults. [default: the recipe: npo, alpha 6, lr 1e-4, "
        "localized to the top 1/36 of the MLP neurons]",
    ),
    model: str | None = typer.Option(None, help="Checkpoint folder, .gguf, real model name or hub id."),
    from_dir: Path | None = typer.Option(
        None, "--from", help="Continue from an earlier prune/clamp/unlearn folder; its edits stay in force."
    ),
    option: list[str] = typer.Option([], "--option", "-o", help="Method option KEY=VALUE (e.g. beta=0.1)."),
    steps: int | None = typer.Option(None, help="Optimiser steps. [default: the method's]"),
    epochs: float | None = typer.Option(
        None, help="Passes over the forget data (retain data for sft) (instead of --steps)."
    ),
    lr: float | None = typer.Option(None, help="Learning rate. [default: the method's]"),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Forget rows per step. [default: the method's]"),
    grad_accum: int | None = typer.Option(None, "--grad-accum", help="Micro-steps per optimiser step. [default: 1]"),
    mixed_precision: str | None = typer.Option(None, "--mixed-precision", help="no | bf16 | fp16 [default: no]"),
    gradient_checkpointing: bool | None = typer.Option(
        None, "--gradient-checkpointing/--no-gradient-checkpointing", help="Recompute activations in backward."
    ),
    eval_every: int | None = typer.Option(None, "--eval-every", help="Steps between retain-budget checks."),
    lora: str | None = typer.Option(
        None, help="Train LoRA adapters (peft), merged on export: --lora, or --lora r=8,alpha=16,targets=A+B."
    ),
    localize: int | None = typer.Option(
        None, help="Update only the weights of the top-K ranked MLP neurons. [default: 1/36 of them without --method]"
    ),
    localize_from: Path | None = typer.Option(
        None,
        "--localize-from",
        help="A ranking folder (neurons or SAE features) to localize to. [K: 1/36 of the MLP neurons]",
    ),
    rank_option: list[str] = typer.Option(
        [], "--rank-option", help="KEY=VALUE of the localizing ranking (e.g. forget_from=synth); repeatable."
    ),
    max_retain_drop: float | None = typer.Option(
        None,
        "--max-retain-drop",
        help="Retain budget checked during training; the last state within it is kept. [default: 0.10]",
    ),
    no_budget: bool = typer.Option(False, "--no-budget", help="Train all steps without budget checks."),
    forget_data: list[Path] = typer.Option(
        [],
        "--forget-data",
        help="txt/jsonl replacing the forget data; 'synth': the model's own corpus (mechunlearn synth); "
        "'default': the data without this option, beside the others. Repeatable.",
    ),
    retain_data: list[Path] = typer.Option(
        [],
        "--retain-data",
        help="txt/jsonl replacing the retain data; 'synth': the model's own keep-side text; 'default': as for "
        "--forget-data. Repeatable.",
    ),
    forget_kind: str | None = typer.Option(
        None, "--forget-kind", help="Default forget data: all | facts | passages. [default: facts]"
    ),
    forget_sample: int | None = typer.Option(
        None, "--forget-sample", help="Train on a seeded sample of N forget examples. [default: all]"
    ),
    forget_tokens: str | None = typer.Option(
        None,
        "--forget-tokens",
        help="Targets in forget passages: all | names (only the tokens of the concept's keywords and entities). "
        "[default: all]",
    ),
    out: Path | None = typer.Option(None, help="New output folder. [default: runs/unlearn-<concept>-<time>]"),
    config: Path | None = typer.Option(None, help="JSON config (an unlearn run's config.json)."),
    device: str | None = typer.Option(None, help="cpu | cuda | ... [default: cuda if available]"),
    dtype: str | None = typer.Option(None, help="float32 | bfloat16 | float16 [default: float32]"),
    seed: int | None = typer.Option(None, help="Random seed. [default: 0]"),
    checks: str | None = typer.Option(None, help=CHECKS_HELP),
) -> None:
    """Gradient unlearning on the hooked model (edits in force), full, LoRA or localized; export and report."""
    from mechunlearn.pipeline.unlearn import unlearn
    from mechunlearn.pipeline.unlearn_config import UnlearnConfig

    base = UnlearnConfig.from_file(config).to_dict() if config else {}
    given = {
        "concept": concept,
        "method": method,
        "model": model,
        "from_dir": str(from_dir) if from_dir else None,
        "method_options": (base.get("method_options", {}) | parse_options(option)) if option else None,
        "steps": steps,
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "grad_accum": grad_accum,
        "mixed_precision": mixed_precision,
        "gradient_checkpointing": gradient_checkpointing,
        "eval_every": eval_every,
        "lora": None if lora is None else ("" if lora == LORA_DEFAULT else lora),
        "localize": localize,
        "localize_from": str(localize_from) if localize_from else None,
        "localize_options": parse_options(rank_option, "--rank-option") or None,
        "forget_data": [str(p) for p in forget_data] or None,
        "retain_data": [str(p) for p in retain_data] or None,
        "forget_kind": forget_kind,
        "forget_sample": forget_sample,
        "forget_tokens": forget_tokens,
        "out": str(out) if out else None,
        "device": device,
        "dtype": dtype,
        "seed": seed,
        "checks": check_list(checks),
    }
    config_dict = merged(base, given, budget_option(max_retain_drop, no_budget), either=("steps", "epochs"))
    unlearn(UnlearnConfig.from_dict(config_dict), print_fn=say)


def filter_cmd(
    input: Path = typer.Argument(..., help="A .txt (document per line), .jsonl or Hugging Face datasets folder."),
    output: Path = typer.Argument(..., help="New file or folder of the same format."),
    concept: str = typer.Option("harry_potter", help="Concept name or folder."),
    field: str = typer.Option("text", help="The text field of a .jsonl record or a datasets column."),
    ignore_case: bool = typer.Option(False, "--ignore-case", help="Match keywords regardless of case."),
    probe: bool = typer.Option(
        False, "--probe", help="Also drop documents the concept probe (NeuroX, pooled MLP activations) classifies."
    ),
    model: str | None = typer.Option(None, help="The probe's model (name, folder or run). [default: bundled]"),
    threshold: float = typer.Option(0.5, help="The probe drops a document at P(concept) >= this."),
    window: int = typer.Option(64, help="Tokens per pooled window the probe reads (the highest window counts)."),
    device: str | None = typer.Option(None),
    dtype: str = typer.Option("float32", help="float32 | bfloat16 | float16"),
) -> None:
    """Write INPUT without the documents that mention the concept (keyword match; --probe adds the concept probe)."""
    from mechunlearn.pipeline.filter import FilterConfig, filter_corpus

    cfg = FilterConfig(
        concept, str(input), str(output), field, ignore_case, probe, model, threshold, window, device, dtype
    )
    filter_corpus(cfg, print_fn=say)


def relearn_cmd(
    run_dir: Path = typer.Argument(..., help="A prune / clamp / unlearn output folder."),
    steps: int = typer.Option(20, help="Fine-tuning steps on half of the known forget facts."),
    lr: list[float] = typer.Option(
        [], help="Learning rate(s) to try, each from the unlearned weights; the best counts. [default: 3e-6 1e-5 3e-5]"
    ),
    batch_size: int = typer.Option(8, "--batch-size"),
    split: str = typer.Option("half", help="half | train-test"),
    train_embeddings: bool = typer.Option(False, "--train-embeddings", help="Also train the token embeddings."),
    out: Path | None = typer.Option(None, help="New output folder. [default: runs/relearn-<run>-<time>]"),
    device: str | None = typer.Option(None),
    dtype: str = typer.Option("float32", help="float32 | bfloat16 | float16"),
    seed: int = typer.Option(0),
) -> None:
    """Relearning attack (Deeb & Roger 2024): fine-tune on half the known forget facts, measure the other half."""
    from mechunlearn.pipeline.relearn import RelearnConfig, relearn

    cfg = RelearnConfig(
        run_dir=str(run_dir),
        steps=steps,
        batch_size=batch_size,
        split=split,
        train_embeddings=train_embeddings,
        out=str(out) if out else None,
        device=device,
        dtype=dtype,
        seed=seed,
        **({"lr": list(lr)} if lr else {}),  # else the config's default grid
    )
    relearn(cfg, print_fn=say)
