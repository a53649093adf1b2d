"""UNDO on a real model: relearning recovery against noise level and distillation compute.

    python bench/bench_undo.py RUN --noise 0.05 0.1 [--epochs 2] [--device cpu]          # mild, on CPU
    python bench/bench_undo.py RUN --noise 0.3 0.5 0.8 --epochs 8 --device cuda          # a lent GPU

For each noise level, ``mechunlearn distill RUN --noise A --checks facts,paraphrase,perplexity,relearn``
(into ``bench/undo_runs/<run>-noise<A>-lr<LR>-e<E>/``, not committed); one record per level appended to
``bench/undo/<run>.jsonl`` as soon as it ends (resumable: a noise level, learning rate and epochs
already recorded is not run again): the command, the scorecard of the
distilled model against the base model (known concept MC, after relearning, other MC and greedy,
perplexity), the relearning recovery, the KL to the teacher at the first and last step, the
distillation's steps, tokens and seconds, the device and library versions. Noise 0 (plain
self-distillation) is the control: what distillation alone does to relearning.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from mechunlearn.core.versions import library_versions

ROOT = Path(__file__).resolve().parent.parent
EXE = str(Path(sys.executable).with_name("mechunlearn"))


def setting(line: dict) -> tuple[float, float, int]:
    """A record's noise, learning rate and epochs (records before 2026-12-07 keep the last two in the command)."""
    words = line["command"].split()
    return line["noise"], float(words[words.index("--lr") + 1]), int(words[words.index("--epochs") + 1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.05, 0.1])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    run = Path(a.run)
    record = ROOT / "bench" / "undo" / f"{run.name}.jsonl"
    record.parent.mkdir(parents=True, exist_ok=True)
    done = {setting(json.loads(x)) for x in record.read_text().splitlines()} if record.is_file() else set()
    for noise in a.noise:
        if (noise, a.lr, a.epochs) in done:
            continue
        out = ROOT / "bench" / "undo_runs" / f"{run.name}-noise{noise:g}-lr{a.lr:g}-e{a.epochs}"
        cmd = ["distill", str(run), "--noise", f"{noise:g}", "--epochs", str(a.epochs), "--lr", f"{a.lr:g}",
               "--checks", "facts,paraphrase,perplexity,relearn", "--device", a.device]  # fmt: skip
        if not (out / "report.json").is_file():
            subprocess.run([EXE, *cmd, "--out", str(out)], check=True, cwd=ROOT)
        report = json.loads((out / "report.json").read_text())
        last = report["stages"][-1]["metrics"]
        line = {
            "noise": noise,
            "lr": a.lr,
            "epochs": a.epochs,
            "command": "mechunlearn " + " ".join(cmd),
            "scorecard": report["scorecard"][report["stages"][-1]["name"]],
            "relearn_recovery": last.get("relearn.recovery"),
            "first_kl": report["training"]["first_kl"],
            "last_kl": report["training"]["last_kl"],
            "steps": report["training"]["steps"],
            "tokens": report["training"]["tokens"],
            "train_s": report["timing"].get("train"),
            "wall_s": report["timing"].get("total"),  # the command's own, also when the folder was already there
            "device": a.device,
            "versions": library_versions(),
        }
        with record.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        print(json.dumps(line))


if __name__ == "__main__":
    main()
