"""Real-model runs scored with every check: the scorecards the next methods are judged against.

    python bench/bench_scorecards.py [--model gemma-3-270m] [--only NAME ...] [--table]

Runs each command below with ``--checks all`` into ``bench/scorecard_runs/<model>-<name>/`` (as a
user would, through the CLI), then writes ``bench/scorecard_runs/summary-<model>.json``: every
run's command, scorecard before and after, seconds per check and the library versions. A run
folder that already holds a report is read, not rerun. ``--table`` prints the summary as markdown.
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
CHECK_PREFIXES = ("familiarity.", "adversarial.", "mia.", "relearn.")
COMMANDS = {
    "recipe": ["unlearn"],  # the default recipe: NPO, localised to the attribution ranking's top neurons
    "prune": ["prune"],  # the design card's command: attribution ranking, retain budget 0.03
    "rmu": ["unlearn", "--method", "rmu"],
}


def run(model: str, name: str) -> dict:
    out = HERE / f"{model}-{name}"
    cmd = ["mechunlearn", *COMMANDS[name], "--concept", "harry_potter", "--model", model, "--checks", "all"]
    if not (out / "report.json").is_file():
        exe = str(Path(sys.executable).with_name("mechunlearn"))
        subprocess.run([exe, *cmd[1:], "--out", str(out)], check=True)
    report = json.loads((out / "report.json").read_text())
    return {
        "command": " ".join(cmd),
        "folder": str(out.relative_to(HERE.parent.parent)),
        "scorecard": report["scorecard"],
        # every check's own figures (per type, per attack, the relearning halves), first and last stage
        "checks": {
            st["name"]: {k: v for k, v in st["metrics"].items() if k.startswith(CHECK_PREFIXES)}
            for st in (report["stages"][0], report["stages"][-1])
        },
        "timing": report["timing"],
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
