"""Option parsing the command-line modules share (kept apart so each command module imports it alone)."""

from __future__ import annotations

import json
import pkgutil
from pathlib import Path

from mechunlearn.core.errors import MechUnlearnError

# The registries' names as ``--help`` lists them. ``--help`` and usage errors answer before torch is
# imported, and registering imports torch, so the names are not read from the registries:
# unlearning methods and evaluation checks are one file each, named as registered, listed without
# importing them;
# tests/cli/test_cli_support.py checks that each list is exactly its registry's names.
RANKING_METHODS = ("probe", "probeless", "attribution")  # mechunlearn.ranking.RANKERS
FEATURE_RANKING_METHODS = ("sae-attribution", "sae-activation", "sae-probe")  # ranking.FEATURE_RANKERS
UNLEARNING_METHODS = tuple(  # mechunlearn.unlearning.METHODS
    m.name for m in pkgutil.iter_modules([str(Path(__file__).parents[1] / "unlearning" / "methods")])
)
EVALUATION_CHECKS = tuple(  # mechunlearn.evaluation.checks.CHECKS
    m.name for m in pkgutil.iter_modules([str(Path(__file__).parents[1] / "evaluation" / "checks")]) if m.name != "base"
)


def choices(names: tuple[str, ...]) -> str:
    """``a | b | c``: a registry's names in a help text."""
    return " | ".join(names)


def budget_option(max_retain_drop: float | None, no_budget: bool) -> dict:
    """The config keys ``--max-retain-drop`` / ``--no-budget`` set (none if neither was given)."""
    if no_budget and max_retain_drop is not None:
        raise MechUnlearnError("give either --max-retain-drop or --no-budget, not both")
    if no_budget:
        return {"max_retain_drop": None}
    return {} if max_retain_drop is None else {"max_retain_drop": max_retain_drop}


def merged(base: dict, given: dict, budget: dict, either: tuple[str, str]) -> dict:
    """A config file's keys (``base``) overridden by the flags given on the command line (``None``:
    not given) and the budget flags; ``either`` names two keys of which the command line's one
    replaces the file's other (``--top-k`` vs a file's ``ratio``)."""
    given = {k: v for k, v in given.items() if v is not None} | budget
    base = dict(base)
    for key, other in (either, either[::-1]):
        if key in given:
            base.pop(other, None)
    return base | given


def rank_options(base: dict, pairs: list[str]) -> dict | None:
    """A config file's ranking options (``method_options``) updated by ``--rank-option`` pairs; ``None``
    when none is given."""
    return (base.get("method_options", {}) | parse_options(pairs, "--rank-option")) if pairs else None


def parse_options(pairs: list[str], flag: str = "--option") -> dict:
    """``-o KEY=VALUE`` pairs; values are read as JSON where they parse (numbers, true, null), else strings."""
    opts = {}
    for kv in pairs:
        if "=" not in kv:
            raise MechUnlearnError(f"{flag} takes KEY=VALUE, got '{kv}'")
        k, v = kv.split("=", 1)
        try:
            opts[k] = json.loads(v)
        except json.JSONDecodeError:
            opts[k] = v
    return opts


LORA_DEFAULT = "default"


def optional_value(argv: list[str], flag: str, default: str) -> list[str]:
    """Let ``flag`` stand alone (``--lora`` = ``--lora default``): typer options always take a value."""
    out = []
    for i, a in enumerate(argv):
        out.append(a)
        if a == flag and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            out.append(default)
    return out


def check_options(pairs: list[str]) -> dict[str, dict]:
    """``CHECK.KEY=VALUE`` pairs as ``{check: {key: value}}`` (values read as in :func:`parse_options`)."""
    out: dict[str, dict] = {}
    for key, value in parse_options(pairs).items():
        check, dot, option = key.partition(".")
        if not dot or not check or not option:
            raise MechUnlearnError(f"--check-option takes CHECK.KEY=VALUE (e.g. mia.k=0.1), got '{key}'")
        out.setdefault(check, {})[option] = value
    return out


CHECKS_HELP = (
    f"Evaluation checks every stage runs, comma-separated, or 'all': {choices(EVALUATION_CHECKS)}. "
    "[default: facts, paraphrase, perplexity]"
)


def check_list(checks: str | None) -> list[str] | None:
    """``--checks a,b`` as a list (``None``: the default set)."""
    return [c.strip() for c in checks.split(",")] if checks else None
