"""The edit commands: ``prune``, ``clamp`` and ``guardrail`` (each an edit of the stack, with its run
folder), and ``distill`` (UNDO, after any run); registered in :mod:`mechunlearn.cli.app`."""

from __future__ import annotations

from pathlib import Path

import typer

from mechunlearn.cli.options import (
    CHECKS_HELP,
    FEATURE_RANKING_METHODS,
    RANKING_METHODS,
    budget_option,
    check_list,
    choices,
    merged,
    parse_options,
)
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.progress import say


def prune_cmd(
    concept: str | None = typer.Option(
        None, help="Concept name (data/concepts/<name>) or folder. [default: harry_potter]"
    ),
    model: str | None = typer.Option(None, help="Checkpoint folder or hub id. [default: the bundled model]"),
    method: str | None = typer.Option(None, help=f"{choices(RANKING_METHODS)}. [default: attribution]"),
    top_k: int | None = typer.Option(None, "--top-k", help="Number of neurons to prune."),
    ratio: float | None = typer.Option(None, help="Fraction of all MLP neurons to prune, in (0, 1)."),
    ablation: str | None = typer.Option(None, help="zero | mean. [default: zero]"),
    retrain: bool | None = typer.Option(
        None, "--retrain/--no-retrain", help="Fine-tune on concept-free data after pruning."
    ),
    rank_option: list[str] = typer.Option(
        [], "--rank-option", help="KEY=VALUE of the ranking method (e.g. forget_from=synth); repeatable."
    ),
    ranking: Path | None = typer.Option(None, help="Use a stored ranking folder instead of ranking anew."),
    from_dir: Path | None = typer.Option(
        None, "--from", help="Continue from an earlier prune/clamp output folder (edits stack)."
    ),
    out: Path | None = typer.Option(None, help="New output folder. [default: runs/prune-<concept>-<time>]"),
    config: Path | None = typer.Option(
        None, help="JSON config (this tool's config.json or the legacy NeuroX-tool format)."
    ),
    device: str | None = typer.Option(None, help="cpu | cuda | cuda:1 ... [default: cuda if available]"),
    dtype: str | None = typer.Option(None, help="float32 | bfloat16 | float16 [default: float32]"),
    seed: int | None = typer.Option(None, help="Random seed. [default: 0]"),
    max_retain_drop: float | None = typer.Option(
        None,
        "--max-retain-drop",
        help="Retain budget: the largest top-k whose retain loss on validation facts and text stays within "
        "this fraction. [default: 0.03]",
    ),
    no_budget: bool = typer.Option(False, "--no-budget", help="No budget: prune exactly --top-k / --ratio."),
    checks: str | None = typer.Option(None, help=CHECKS_HELP),
) -> None:
    """Rank concept neurons, ablate them, (optionally retrain), export a plain HF checkpoint and a report."""
    from mechunlearn.pipeline import PruneConfig, prune

    base = PruneConfig.from_file(config).to_dict() if config else {}
    given = {
        "concept": concept,
        "model": model,
        "method": method,
        "method_options": (base.get("method_options", {}) | parse_options(rank_option, "--rank-option"))
        if rank_option
        else None,
        "top_k": top_k,
        "ratio": ratio,
        "ablation": ablation,
        "retrain": retrain,
        "ranking": str(ranking) if ranking else None,
        "from_dir": str(from_dir) if from_dir else None,
        "out": str(out) if out else None,
        "device": device,
        "dtype": dtype,
        "seed": seed,
        "checks": check_list(checks),
    }
    config_dict = merged(base, given, budget_option(max_retain_drop, no_budget), either=("top_k", "ratio"))
    prune(PruneConfig.from_dict(config_dict), print_fn=say)


def clamp_cmd(
    concept: str | None = typer.Option(None, help="Concept name or folder. [default: harry_potter]"),
    model: str | None = typer.Option(None, help="Checkpoint folder or hub id. [default: the bundled model]"),
    sae: str | None = typer.Option(
        None, help="RELEASE:ID (sae-lens pretrained) or an SAE folder. [default: the SAE shipped in saes/<model>/]"
    ),
    method: str | None = typer.Option(None, help=f"{choices(FEATURE_RANKING_METHODS)}. [default: sae-attribution]"),
    top_k: int | None = typer.Option(None, "--top-k", help="Number of top-ranked features to clamp. [default: 128]"),
    features: str | None = typer.Option(None, help="Comma-separated feature indices to clamp instead of a ranking."),
    mode: str | None = typer.Option(None, help="zero | negative | conditional. [default: negative]"),
    value: float | None = typer.Option(None, help="Clamp value (multiplier or fixed, see --value-kind)."),
    value_kind: str | None = typer.Option(
        None, help="multiplier | fixed. [default: multiplier for negative, fixed for conditional]"
    ),
    threshold: float | None = typer.Option(None, help="Activation above which 'conditional' clamps. [default: 0]"),
    bake: bool | None = typer.Option(
        None, "--bake/--no-bake", help="Distil the clamped model into a plain HF checkpoint (model/)."
    ),
    rank_option: list[str] = typer.Option(
        [], "--rank-option", help="KEY=VALUE of the ranking method (e.g. forget_from=synth); repeatable."
    ),
    ranking: Path | None = typer.Option(None, help="Use a stored feature ranking folder."),
    from_dir: Path | None = typer.Option(
        None, "--from", help="Continue from an earlier prune/clamp output folder (edits stack)."
    ),
    out: Path | None = typer.Option(None, help="New output folder. [default: runs/clamp-<concept>-<time>]"),
    config: Path | None = typer.Option(None, help="JSON config (a clamp run's config.json)."),
    device: str | None = typer.Option(None, help="cpu | cuda | ... [default: cuda if available]"),
    dtype: str | None = typer.Option(None, help="float32 | bfloat16 | float16 [default: float32]"),
    seed: int | None = typer.Option(None, help="Random seed. [default: 0]"),
    max_retain_drop: float | None = typer.Option(
        None,
        "--max-retain-drop",
        help="Retain budget: the largest number of top features whose retain loss on validation facts and text "
        "stays within this fraction. [default: 0.03]",
    ),
    no_budget: bool = typer.Option(False, "--no-budget", help="No budget: clamp exactly --top-k features."),
    checks: str | None = typer.Option(None, help=CHECKS_HELP),
) -> None:
    """Rank a concept's SAE features, clamp them through hooks; keep the edit or distill it (--bake)."""
    from mechunlearn.pipeline.clamp import clamp
    from mechunlearn.pipeline.config import ClampConfig

    feats = None
    if features is not None:
        try:
            feats = [int(x) for x in features.split(",") if x.strip()]
        except ValueError:
            raise MechUnlearnError(f"--features takes comma-separated integers, got '{features}'") from None
    base = ClampConfig.from_file(config).to_dict() if config else {}
    given = {
        "concept": concept,
        "model": model,
        "sae": sae,
        "method": method,
        "method_options": (base.get("method_options", {}) | parse_options(rank_option, "--rank-option"))
        if rank_option
        else None,
        "top_k": top_k,
        "features": feats,
        "mode": mode,
        "value": value,
        "value_kind": value_kind,
        "threshold": threshold,
        "bake": bake,
        "ranking": str(ranking) if ranking else None,
        "from_dir": str(from_dir) if from_dir else None,
        "out": str(out) if out else None,
        "device": device,
        "dtype": dtype,
        "seed": seed,
        "checks": check_list(checks),
    }
    config_dict = merged(base, given, budget_option(max_retain_drop, no_budget), either=("features", "top_k"))
    clamp(ClampConfig.from_dict(config_dict), print_fn=say)


def guardrail_cmd(
    concept: str | None = typer.Option(None, help="Concept name or folder. [default: harry_potter]"),
    model: str | None = typer.Option(
        None, help="Checkpoint folder, real model name or hub id. [default: the bundled model]"
    ),
    text: str | None = typer.Option(None, help="The guardrail prompt. [default: the concept's guardrail.txt]"),
    bake: bool | None = typer.Option(
        None, "--bake/--no-bake", help="Distil the guardrailed model into a plain HF checkpoint (model/)."
    ),
    distill_option: list[str] = typer.Option(
        [], "--distill-option", help="KEY=VALUE of the distillation (epochs, lr, batch_size, ...); repeatable."
    ),
    from_dir: Path | None = typer.Option(None, "--from", help="Continue from an earlier output folder (edits stack)."),
    out: Path | None = typer.Option(None, help="New output folder. [default: runs/guardrail-<concept>-<time>]"),
    config: Path | None = typer.Option(None, help="JSON config (a guardrail run's config.json)."),
    device: str | None = typer.Option(None, help="cpu | cuda | ... [default: cuda if available]"),
    dtype: str | None = typer.Option(None, help="float32 | bfloat16 | float16 [default: float32]"),
    seed: int | None = typer.Option(None, help="Random seed. [default: 0]"),
    checks: str | None = typer.Option(None, help=CHECKS_HELP),
) -> None:
    """Put the concept's guardrail prompt before every input (the baseline to beat); --bake distils it into weights."""
    from mechunlearn.pipeline.guardrail import GuardrailConfig, guardrail

    base = GuardrailConfig.from_file(config).to_dict() if config else {}
    given = {
        "concept": concept,
        "model": model,
        "text": text,
        "bake": bake,
        "distill_options": parse_options(distill_option) or None,
        "from_dir": str(from_dir) if from_dir else None,
        "out": str(out) if out else None,
        "device": device,
        "dtype": dtype,
        "seed": seed,
        "checks": check_list(checks),
    }
    guardrail(GuardrailConfig.from_dict({**base, **{k: v for k, v in given.items() if v is not None}}), print_fn=say)


def distill_cmd(
    run: Path = typer.Argument(..., help="The run to distil (prune, clamp, unlearn or guardrail output): the teacher."),
    concept: str = typer.Option("harry_potter", help="Concept name or folder."),
    noise: float = typer.Option(0.1, help="Shrink-and-perturb fraction of the student's weights (UNDO's alpha)."),
    epochs: int = typer.Option(2, help="Passes over the retain and general text."),
    lr: float = typer.Option(1e-4, help="Learning rate of the distillation."),
    batch_size: int = typer.Option(16, "--batch-size", help="Texts per step."),
    embeddings: bool = typer.Option(False, "--embeddings/--no-embeddings", help="Noise and train the embeddings too."),
    seed: int = typer.Option(0, help="The noise and the batch order."),
    checks: str | None = typer.Option(None, help=CHECKS_HELP),
    out: Path | None = typer.Option(None, help="New output folder. [default: runs/distill-<concept>-<time>]"),
    device: str | None = typer.Option(None),
    dtype: str = typer.Option("float32", help="float32 | bfloat16 | float16"),
) -> None:
    """UNDO: distil a run into a partly noised copy of itself, so relearning has less to bring back."""
    from mechunlearn.pipeline.distill import DistillConfig, distill_run

    cfg = DistillConfig(
        from_dir=str(run), concept=concept, noise=noise, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
        embeddings=embeddings, checks=check_list(checks), out=str(out) if out else None, device=device, dtype=dtype,
    )  # fmt: skip
    distill_run(cfg, print_fn=say)
