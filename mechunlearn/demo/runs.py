"""What the demo shows: the base model, the runs on it, their scorecards, and ready-made prompts.

Everything here is plain Python (no Streamlit), so the command checks its runs before a server
starts and the tests read the same answers the page shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mechunlearn.core.errors import MechUnlearnError

STAGE_COMMAND = {"pruned": "prune", "clamped": "clamp", "unlearned": "unlearn", "guardrailed": "guardrail",
                 "baked": "guardrail", "distilled": "distill"}  # fmt: skip


@dataclass
class DemoRun:
    """One run folder as the demo shows it."""

    name: str
    folder: str
    base: str
    concept: str
    stages: list[str]
    scorecard: dict[str, float] = field(default_factory=dict)
    before: dict[str, float] = field(default_factory=dict)
    settings: str = ""
    command: str = ""
    top_units: list[dict[str, Any]] = field(default_factory=list)


def read_demo_run(folder: str | Path) -> DemoRun:
    from mechunlearn.edits.stack import read_stack, root_base
    from mechunlearn.evaluation.compare import read_run

    folder = Path(folder)
    stack = read_stack(folder)  # one error for a folder that is not a run
    summary = read_run(folder)
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    config = (
        json.loads((folder / "config.json").read_text(encoding="utf-8")) if (folder / "config.json").is_file() else {}
    )
    stages = [s["name"] for s in report["stages"]]
    cards = report.get("scorecard") or {}
    kind = STAGE_COMMAND.get(stages[-1], "unlearn")
    return DemoRun(
        name=folder.name,
        folder=str(folder),
        base=root_base(stack),
        concept=str(config.get("concept") or "harry_potter"),
        stages=stages,
        scorecard=summary.card,
        before=cards.get(stages[0], {}),
        settings=summary.command,
        command=f"mechunlearn {kind} --config {folder / 'config.json'}",
        top_units=list(report.get("top_units") or [])[:10],
    )


def read_demo_runs(folders: list[str], model: str | None = None) -> tuple[str, list[DemoRun]]:
    """The base model and the runs; runs of different base models (or another than ``model``) are refused."""
    runs = [read_demo_run(f) for f in folders]
    base = model if model is not None else (runs[0].base if runs else "bundled")
    for r in runs:
        if r.base != base:
            raise MechUnlearnError(
                f"run {r.folder} was made from model '{r.base}', not '{base}'"
                + (f" (the model of {runs[0].folder})" if model is None else "")
                + "; the demo compares runs of one base model: give runs that share it"
            )
    concepts = sorted({r.concept for r in runs})
    if len(concepts) > 1:
        raise MechUnlearnError(f"the runs unlearned different concepts ({concepts}); give runs of one concept")
    return base, runs


def ready_prompts(concept_name: str, per_kind: int = 8) -> dict[str, list[str]]:
    """Prompts a visitor can pick: the concept's facts (test split) and its familiarity openings, the
    adversarial forms of a fact ("try a jailbreak"), and the same kinds from the control side."""
    from mechunlearn.concepts.folders import fact_split, load_concept

    concept = load_concept(concept_name)
    sets = concept.fact_sets
    fs = sets.get("natural") or sets["corpus"]
    out: dict[str, list[str]] = {}
    for side, label in (("forget", "Concept facts"), ("retain", "Other facts (kept)")):
        out[label] = [f.prompt for i, f in enumerate(fs.side(side)) if fact_split(i) == "test"][:per_kind]
    fam = Path(concept.path) / "familiarity" / "openings.jsonl"
    if fam.is_file():
        from mechunlearn.core.io import read_jsonl

        rows = read_jsonl(fam)
        out["Concept story openings"] = [r["opening"] for r in rows if r["side"] == "concept"][:per_kind]
        out["Other story openings (kept)"] = [r["opening"] for r in rows if r["side"] == "control"][:per_kind]
    adv = Path(concept.path) / "adversarial"
    if (adv / "domains.json").is_file() and out["Concept facts"]:
        from mechunlearn.evaluation.checks.adversarial import Probes

        probes = Probes(adv, 3)
        fact = next(f for i, f in enumerate(fs.forget) if fact_split(i) == "test")
        built = [t(fact, "forget") for t in probes.templates().values()]
        out["Try a jailbreak"] = [p for p in built if p]
    return {k: v for k, v in out.items() if v}
