"""The concept commands: ``synth`` (the model writes its own concept corpus), ``concept new`` and
``concepts`` (registered in :mod:`mechunlearn.cli.app`)."""

from __future__ import annotations

from pathlib import Path

import typer

from mechunlearn.cli.options import parse_options
from mechunlearn.core.progress import say


def synth_cmd(
    concept: str = typer.Option("harry_potter", help="Concept name or folder (needs entities.txt)."),
    model: str | None = typer.Option(
        None, help="Checkpoint folder, real model name or hub id. [default: the bundled model]"
    ),
    passages: int | None = typer.Option(None, help="Concept passages to keep. [default: 2000]"),
    keep_passages: int | None = typer.Option(None, "--keep-passages", help="Keep-side passages. [default: 500]"),
    questions: int | None = typer.Option(None, help="Questions to keep (0: none, and no answers). [default: 300]"),
    probe: bool | None = typer.Option(
        None, "--probe/--no-probe", help="Also judge keyword-free passages with the concept probe."
    ),
    seed: int | None = typer.Option(None, help="Openings' order and sampling. [default: 0]"),
    option: list[str] = typer.Option([], "--option", "-o", help="KEY=VALUE of the synth settings; repeatable."),
    out: Path | None = typer.Option(None, help="Folder to write. [default: data/synth/<model>/<concept>/]"),
    device: str | None = typer.Option(None),
    dtype: str = typer.Option("float32", help="float32 | bfloat16 | float16"),
) -> None:
    """The model writes its own corpus of the concept: passages, questions, guardrailed answers, keep side."""
    from mechunlearn.pipeline.synth import SynthJobConfig, synth_job

    given = {"passages": passages, "keep_passages": keep_passages, "questions": questions, "probe": probe, "seed": seed}
    options = parse_options(option) | {k: v for k, v in given.items() if v is not None}
    cfg = SynthJobConfig(concept, model, options, str(out) if out else None, device, dtype)
    synth_job(cfg, print_fn=say)


concept_app = typer.Typer(help="Make a new concept folder.", no_args_is_help=True)


@concept_app.command("new")
def concept_new_cmd(
    name: str = typer.Argument(
        ..., help="The concept's name (lowercase, underscores): its folder under data/concepts/."
    ),
    keywords: str = typer.Option(..., help="Comma-separated keywords that mark a text as the concept's."),
    entities: str = typer.Option(
        ..., help="Comma-separated category:name items, or a file of category<TAB>name lines (character, place, ...)."
    ),
    title: str | None = typer.Option(None, help="How text names the concept, e.g. 'The Lord of the Rings'."),
    model: str | None = typer.Option(
        None, help="Sample the probing sentences (concept.txt, other.txt) from this model."
    ),
    sentences: int = typer.Option(120, help="Probing sentences per side, at most."),
    out: Path | None = typer.Option(None, help="The folder to write. [default: data/concepts/NAME]"),
) -> None:
    """Scaffold a concept folder: keywords, entities, title, guardrail, probing sentences (facts stay hand-written)."""
    from mechunlearn.pipeline.concept_new import concept_new, parse_entities

    p = Path(entities)
    lines = p.read_text(encoding="utf-8").splitlines() if p.is_file() else entities.split(",")
    items = parse_entities([ln for ln in lines if ln.strip() and not ln.startswith("#")])
    concept_new(name, keywords.split(","), items, title=title, model=model, sentences=sentences,
                out=str(out) if out else None, print_fn=say)  # fmt: skip


def concepts_cmd() -> None:
    """List the available concepts."""
    from mechunlearn.concepts.folders import available_concepts

    for name in available_concepts():
        typer.echo(name)
