"""The ``mechunlearn`` command line: parses arguments and calls one library function each."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from mechunlearn.cli.concept import concept_app, concepts_cmd, synth_cmd
from mechunlearn.cli.edit import clamp_cmd, distill_cmd, guardrail_cmd, prune_cmd
from mechunlearn.cli.models import fetch_cmd, models_cmd
from mechunlearn.cli.options import (
    EVALUATION_CHECKS,
    LORA_DEFAULT,
    RANKING_METHODS,
    check_list,
    check_options,
    choices,
    optional_value,
    parse_options,
)
from mechunlearn.cli.unlearn import filter_cmd, relearn_cmd, unlearn_cmd
from mechunlearn.core.progress import say

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Find where a concept lives in a language model and remove it there.",
)


app.command("prune")(prune_cmd)
app.command("clamp")(clamp_cmd)
app.command("guardrail")(guardrail_cmd)
app.command("distill")(distill_cmd)


@app.command("demo")
def demo_cmd(
    runs: list[Path] = typer.Argument(None, help="Run folders of one base model (none: the base model alone)."),
    model: str | None = typer.Option(None, help="The base model when no run is given. [default: the bundled model]"),
    concept: str = typer.Option("harry_potter", help="Concept whose prompts are offered when no run is given."),
    port: int = typer.Option(8501, help="Port to serve on."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (localhost by default)."),
) -> None:
    """A web app (Streamlit): the base model and its unlearned versions side by side on any prompt."""
    from mechunlearn.pipeline.demo import demo

    raise typer.Exit(demo([str(r) for r in runs or []], model, concept, port, host, print_fn=say))


app.command("synth")(synth_cmd)
app.command("unlearn")(unlearn_cmd)
app.command("filter")(filter_cmd)
app.command("relearn")(relearn_cmd)


@app.command("train-sae")
def train_sae_cmd(
    model: str | None = typer.Option(None, help="Checkpoint folder or hub id. [default: the bundled model]"),
    hook: str = typer.Option("blocks.2.hook_resid_pre", help="Hook point to reconstruct."),
    d_sae: int | None = typer.Option(None, "--d-sae", help="Number of features. [default: 8 x activation size]"),
    tokens: int = typer.Option(2_000_000, help="Training tokens."),
    corpus: list[Path] = typer.Option(
        [],
        help="Text file (one document per line), .jsonl with 'text', or 'bundled' (the bundled model's corpus);"
        " repeatable. [default: bundled]",
    ),
    architecture: str = typer.Option("topk", help="topk | standard"),
    k: int = typer.Option(32, help="Active features per token (topk)."),
    l1_coefficient: float = typer.Option(5.0, help="Sparsity penalty (standard)."),
    lr: float = typer.Option(4e-4, help="Adam learning rate."),
    buffer_tokens: int = typer.Option(
        131_072, help="Activations held and shuffled together: a corpus that fits runs through the model once."
    ),
    seed: int = typer.Option(0),
    device: str | None = typer.Option(None),
    out: Path | None = typer.Option(None, help="New output folder. [default: saes/<model>/<hook>]"),
) -> None:
    """Train an SAE with sae-lens' trainer on local text; write it in sae-lens format with quality figures."""
    from mechunlearn.saes.training import TrainSAEConfig, train_sae

    train_sae(
        TrainSAEConfig(
            model=model,
            hook=hook,
            d_sae=d_sae,
            tokens=tokens,
            corpus=[str(c) for c in corpus],
            architecture=architecture,
            k=k,
            l1_coefficient=l1_coefficient,
            lr=lr,
            buffer_tokens=buffer_tokens,
            seed=seed,
            device=device,
            out=str(out) if out else None,
        ),
        print_fn=say,
    )


@app.command("rank")
def rank_cmd(
    concept: str = typer.Option("harry_potter", help="Concept name or folder."),
    model: str | None = typer.Option(None, help="Checkpoint folder or hub id. [default: the bundled model]"),
    method: str = typer.Option("probe", help=choices(RANKING_METHODS)),
    option: list[str] = typer.Option([], "--option", "-o", help="Method option KEY=VALUE (e.g. lambda_l1=0.01)."),
    device: str | None = typer.Option(None),
    out: Path | None = typer.Option(None, help="New folder for the report. [default: runs/rank-<concept>-<time>]"),
) -> None:
    """Rank every MLP neuron for a concept; store it under probes/ and write ranking.html."""
    from mechunlearn.pipeline.rank import rank_job

    rank_job(
        concept=concept, model=model, method=method, options=parse_options(option), device=device, out=out, print_fn=say
    )


@app.command("cache")
def cache_cmd(
    concept: str = typer.Option("harry_potter", help="Concept name or folder."),
    model: str | None = typer.Option(None, help="Checkpoint folder or hub id. [default: the bundled model]"),
    hook: list[str] = typer.Option(["mlp"], help="'mlp', 'resid' (every layer) or an exact hook name; repeatable."),
    to_disk: bool = typer.Option(False, "--to-disk", help="Write activation shards instead of per-unit statistics."),
    batch_size: int = typer.Option(32),
    device: str | None = typer.Option(None),
    out: Path | None = typer.Option(None, help="New output folder. [default: runs/cache-<concept>-<time>]"),
) -> None:
    """Cache activations of the concept's probing sentences: statistics by label, or shards on disk."""
    from mechunlearn.pipeline.cache import cache_job

    cache_job(
        concept=concept,
        model=model,
        hooks=hook,
        to_disk=to_disk,
        batch_size=batch_size,
        device=device,
        out=out,
        print_fn=say,
    )


@app.command("evaluate")
def evaluate_cmd(
    concept: str = typer.Option("harry_potter", help="Concept name or folder."),
    model: str | None = typer.Option(
        None,
        help="Checkpoint folder, .gguf file, real model name, hub id, or an output folder (its edits re-applied). "
        "[default: the bundled model]",
    ),
    run: Path | None = typer.Option(
        None, help="A prune / clamp / unlearn output folder: measured against its base model (instead of --model)."
    ),
    base_from: Path | None = typer.Option(
        None,
        "--base-from",
        help="With --run: an earlier `evaluate --run` folder of the same base model, concept and checks; "
        "its base stage is reused instead of measured again.",
    ),
    checks: str | None = typer.Option(
        None,
        help=f"Comma-separated checks, or 'all': {choices(EVALUATION_CHECKS)}. "
        "[default: facts, paraphrase, perplexity]",
    ),
    check_option: list[str] = typer.Option(
        [],
        "--check-option",
        "-c",
        help="CHECK.KEY=VALUE, a check's option (repeatable), e.g. familiarity.max_new_tokens=16.",
    ),
    lm_eval: str | None = typer.Option(
        None,
        "--lm-eval",
        help="Also run lm-eval tasks (comma-separated; 'concept': the concept's exported tasks; hub tasks such "
        "as mmlu need the network). Needs the lm-eval extra.",
    ),
    out: Path | None = typer.Option(None, help="New output folder. [default: runs/evaluate-<concept>-<time>]"),
    device: str | None = typer.Option(None),
    dtype: str = typer.Option("float32", help="float32 | bfloat16 | float16"),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of the table."),
) -> None:
    """Run the evaluation checks on a model (or a run against its base): what was forgotten, what was kept."""
    from mechunlearn.pipeline.evaluate import EvaluateConfig, evaluate_job

    cfg = EvaluateConfig(
        concept=concept,
        model=model,
        run=str(run) if run else None,
        base_from=str(base_from) if base_from else None,
        out=str(out) if out else None,
        device=device,
        dtype=dtype,
        checks=check_list(checks),
        check_options=check_options(check_option),
    )
    if lm_eval:
        from mechunlearn.evaluation.checks import default_checks

        cfg.checks = [*(cfg.checks or default_checks()), "lm_eval"]
        cfg.check_options.setdefault("lm_eval", {})["tasks"] = [t.strip() for t in lm_eval.split(",") if t.strip()]
    evaluate_job(cfg, print_fn=say, as_json=as_json)


@app.command("export-tasks")
def export_tasks_cmd(
    out: Path = typer.Argument(..., help="New folder for the task YAMLs and their data."),
    concept: str = typer.Option("harry_potter", help="Concept name or folder."),
) -> None:
    """Write the concept's multiple-choice fact sets as lm-evaluation-harness tasks (lm_eval --include_path OUT)."""
    from mechunlearn.pipeline.export_tasks import export_tasks_job

    export_tasks_job(concept, out, print_fn=say)


@app.command("compare")
def compare_cmd(
    runs: list[Path] = typer.Argument(..., help="Run folders (prune, clamp, unlearn or evaluate --run outputs)."),
    out: Path | None = typer.Option(None, help="New output folder. [default: runs/compare-runs-<time>]"),
) -> None:
    """Runs side by side: every scorecard figure in one table and one HTML page (forget vs keep, curves)."""
    from mechunlearn.pipeline.compare import compare

    compare([str(r) for r in runs], str(out) if out else None, print_fn=say)


app.command("models")(models_cmd)
app.command("fetch")(fetch_cmd)
app.add_typer(concept_app, name="concept")
app.command("concepts")(concepts_cmd)


def main() -> None:
    """Entry point: a usage error or bad input prints one line and exits 2, never a traceback;
    -q/--quiet and -v/--verbose on every command; see mechunlearn.cli.errors for every exit status."""
    from mechunlearn.cli.errors import run

    sys.argv = optional_value(sys.argv, "--lora", LORA_DEFAULT)
    sys.exit(run(app))


if __name__ == "__main__":
    main()
