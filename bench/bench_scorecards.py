"""Real-model runs scored with every check: the scorecards the next methods are judged against.

    python bench/bench_scorecards.py [--model gemma-3-270m] [--only NAME ...] [--table]

Each entry below runs as a user would, through the CLI, into ``bench/scorecard_runs/<model>-<name>/``.
``recipe`` and ``prune`` ran with ``--checks all`` on the command itself (every check before and
after, in the run's own report). The others run with the default checks, then
``mechunlearn evaluate --run <folder> --checks all --out <folder>-checks`` measures the run against
its base model on the validation and test splits (the before-stage then measures only those splits,
not train's too: about half the command's cost); once one such evaluation exists, the others read its
base stage (``--base-from``: checked to be the same base model, concept, checks and known facts)
instead of measuring it again. ``{name}`` in a command is that entry's folder
(``unlearn --from`` a clamp run: a stack). A folder that already holds a report is read, not rerun.
Writes ``bench/scorecard_runs/summary-<model>.json`` after every entry: its commands, scorecard,
every check's own figures, seconds and the library versions. ``--table`` prints it as markdown.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from mechunlearn.core.io import write_json
from mechunlearn.core.versions import library_versions
from mechunlearn.evaluation.scorecard import ROWS

HERE = Path(__file__).parent / "scorecard_runs"
ROOT = HERE.parent.parent
CHECK_PREFIXES = ("familiarity.", "adversarial.", "mia.", "relearn.")
# name -> (command after `mechunlearn`, checks on the command itself)
COMMANDS: dict[str, tuple[list[str], bool]] = {
    "recipe": (["unlearn"], True),  # the default recipe: NPO, localised to the attribution ranking's top neurons
    "prune": (["prune"], True),  # the design card's command: attribution ranking, retain budget 0.03
    "rmu": (["unlearn", "--method", "rmu"], False),
    "simnpo": (["unlearn", "--method", "simnpo"], False),
    "lora": (["unlearn", "--lora"], False),  # the recipe's NPO with LoRA adapters in place of the localisation
    "clamp": (["clamp", "--sae", "saes/{model}/blocks.12.hook_resid_post"], False),
    "clamp-recipe": (["unlearn", "--from", "{clamp}"], False),  # the stack: clamp, then the recipe on top
    "prune-recipe": (["unlearn", "--from", "{prune}"], False),
    # the frontier's default (bench_frontier.py): the recipe on the model's own corpus (mechunlearn synth)
    "recipe-synth": (["unlearn", "--forget-data", "synth", "--retain-data", "synth"], True),
    # the frontier's choice once it ran three times as long (bench_frontier.py: recipe-synth-s120)
    "recipe-synth-s120": (["unlearn", "--forget-data", "synth", "--retain-data", "synth", "--steps", "120"], False),
    # the frontier's choice since clamp-recipe-both-s120 (bench_frontier.py): the clamp, then the choice's 120 steps
    # on both corpora
    "clamp-recipe-both-s120": (
        ["unlearn", "--from", "{clamp}", "--forget-data", "synth", "--forget-data", "default", "--retain-data", "synth"]
        + ["--retain-data", "default", "--steps", "120"],
        False,
    ),
}


def folder(model: str, name: str) -> Path:
    return HERE / f"{model}-{name}"


def command(model: str, name: str) -> list[str]:
    args, checks_in_run = COMMANDS[name]
    args = [a.format(model=model, **{n: folder(model, n).relative_to(ROOT) for n in COMMANDS}) for a in args]
    if "--from" not in args:  # a stack takes its model and concept from the run it continues
        args += ["--concept", "harry_potter", "--model", model]
    return ["mechunlearn", *args, *(["--checks", "all"] if checks_in_run else [])]


def mechunlearn(cmd: list[str]) -> None:
    exe = str(Path(sys.executable).with_name("mechunlearn"))
    subprocess.run([exe, *cmd[1:]], check=True, cwd=ROOT)


def ensure(model: str, name: str) -> list[str]:
    """Run ``name`` (and an entry its command continues from) unless its folder holds a report."""
    for dep in COMMANDS:
        if "{" + dep + "}" in " ".join(COMMANDS[name][0]):
            ensure(model, dep)
    out, cmd = folder(model, name), command(model, name)
    if not (out / "report.json").is_file():
        mechunlearn([*cmd, "--out", str(out.relative_to(ROOT))])
    return cmd


def base_from(model: str, name: str) -> list[str]:
    """``--base-from`` the first finished evaluation of another entry whose base stage was measured."""
    for other in COMMANDS:
        checks = folder(model, other).with_name(folder(model, other).name + "-checks")
        if other != name and (checks / "report.json").is_file():
            if "base_from" not in json.loads((checks / "report.json").read_text()):
                return ["--base-from", str(checks.relative_to(ROOT))]
    return []


def run(model: str, name: str) -> dict:
    cmd = ensure(model, name)
    out = folder(model, name)
    report = json.loads((out / "report.json").read_text())
    commands = [" ".join(cmd)]
    evaluated = report
    if not COMMANDS[name][1]:
        checks = out.with_name(out.name + "-checks")
        ev = ["mechunlearn", "evaluate", "--run", str(out.relative_to(ROOT)), "--checks", "all"]
        if not (checks / "report.json").is_file():
            mechunlearn([*ev, *base_from(model, name), "--out", str(checks.relative_to(ROOT))])
        evaluated = json.loads((checks / "report.json").read_text())
        commands.append(" ".join(ev + (["--base-from", evaluated["base_from"]] if "base_from" in evaluated else [])))
    first, last = evaluated["stages"][0], evaluated["stages"][-1]
    return {
        "command": " && ".join(commands),
        "folder": str(out.relative_to(ROOT)),
        "scorecard": evaluated["scorecard"],
        # every check's own figures (per type, per attack, the relearning halves), first and last stage
        "checks": {
            st["name"]: {k: v for k, v in st["metrics"].items() if k.startswith(CHECK_PREFIXES)} for st in (first, last)
        },
        "timing": report["timing"],
        **(
            {"evaluate_seconds": evaluated["seconds"], "check_seconds": evaluated["check_seconds"]}
            if evaluated is not report
            else {}
        ),
        "stages": [s["name"] for s in report["stages"]],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="gemma-3-270m")
    p.add_argument("--only", nargs="*", default=list(COMMANDS))
    p.add_argument("--table", action="store_true")
    a = p.parse_args()
    summary_path = HERE / f"summary-{a.model}.json"
    if a.table:
        summary = json.loads(summary_path.read_text())
        seen = {k for r in summary["runs"].values() for s in r["scorecard"].values() for k in s}
        keys = [k for k, _ in ROWS if k in seen]
        print("| run | stage | " + " | ".join(keys) + " |")
        print("|---|---|" + "---|" * len(keys))
        for name, r in summary["runs"].items():
            for stage, card in r["scorecard"].items():
                print(f"| {name} | {stage} | " + " | ".join(f"{card[k]:.3f}" if k in card else "" for k in keys) + " |")
        return
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {"runs": {}}
    for name in a.only:
        summary["runs"][name] = run(a.model, name)
        summary["versions"] = library_versions()
        write_json(summary_path, summary)  # after every run: a later failure keeps the earlier records
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
