"""Gradient unlearning benchmark: `unlearn` (each method) and the relearning attack, side by side.

Usage (long on real models: run it in the background; it resumes where it stopped):
    nohup .venv/bin/python bench/bench_unlearn.py --model gemma-3-270m > bench/unlearn-gemma.log 2>&1 &
    .venv/bin/python bench/bench_unlearn.py --model bundled --table     # the markdown table

Each job is the CLI command a user runs (`mechunlearn unlearn ...`, then `mechunlearn relearn`
on its folder), in a subprocess with its own output folder under ``--out/runs/<model>``; jobs
whose record exists are skipped. Figures: the test split (the budget reads validation).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

EXE = str(Path(sys.executable).with_name("mechunlearn"))
ALL = [
    "ga",
    "grad_diff",
    "ga_kl",
    "yao",
    "npo",
    "simnpo",
    "rmu",
    "max_entropy",
    "min_posterior",
    "random_matching",
    "sft",
]
REAL = ["simnpo", "npo", "ga_kl", "rmu", "yao"]
GEMMA_RANKING = "probes/gemma-3-270m/harry_potter/attribution"


def jobs(model: str, only: list[str] | None) -> list[tuple[str, list[str]]]:
    m = [] if model == "bundled" else ["--model", model]
    names = only or (ALL if model == "bundled" else REAL)
    out = [(name, ["unlearn", "--method", name, *m]) for name in names]
    if model != "bundled" and not only:
        out += [
            (
                "npo-localized-1024",
                ["unlearn", "--method", "npo", *m, "--localize-from", GEMMA_RANKING, "--localize", "1024"],
            )
        ]
    if model == "bundled" and not only:
        out += [
            ("npo-localized", ["unlearn", "--method", "npo", "--localize", "256"]),
            ("rmu-localized", ["unlearn", "--method", "rmu", "--localize", "256"]),
            ("npo-lora", ["unlearn", "--method", "npo", "--lora"]),
        ]
    return out


def run(out: Path, name: str, args: list[str], relearn: bool) -> None:
    folder = out / name
    rec_path = out / f"{name}.json"
    if rec_path.exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    rec: dict = {"command": "mechunlearn " + " ".join(args)}
    for step, cmd in [("unlearn", [EXE, *args, "--out", str(folder)])] + (
        [("relearn", [EXE, "relearn", str(folder), "--out", str(folder) + "-relearn"])] if relearn else []
    ):
        print(f"[{time.strftime('%H:%M:%S')}] {' '.join(cmd)}", flush=True)
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        (out / f"{name}.{step}.log").write_text(proc.stdout + proc.stderr)
        rec[step] = {"rc": proc.returncode, "wall_s": round(time.perf_counter() - t, 1)}
        print(f"  rc {proc.returncode}, {rec[step]['wall_s']:.0f} s", flush=True)
        if proc.returncode:
            break
    rec_path.write_text(json.dumps(rec, indent=2) + "\n")


KEYS = [
    ("concept MC", "natural.forget.test.mc"),
    ("concept MC known", "natural.forget.test.known.mc"),
    ("other MC", "natural.retain.test.mc"),
    ("other MC known", "natural.retain.test.known.mc"),
    ("concept greedy", "natural.forget.test.greedy"),
    ("corpus concept greedy", "corpus.forget.test.greedy"),
    ("corpus other greedy", "corpus.retain.test.greedy"),
    ("retain ppl", "retain_ppl"),
    ("forget ppl", "forget_ppl"),
]


def summary(out: Path) -> list[dict]:
    rows = []
    for rec_path in sorted(out.glob("*.json")):
        name = rec_path.stem
        rep_path = out / name / "report.json"
        if not rep_path.exists():
            continue
        rep = json.loads(rep_path.read_text())
        b, a, t = rep["before"], rep["after"], rep["training"]
        row = {"job": name, "command": json.loads(rec_path.read_text())["command"]}
        for label, key in KEYS:
            row[label] = (b.get(key), a.get(key))
        row |= {
            "steps kept": f"{t['kept_step']}/{t['steps']}",
            "stopped": t["stopped"],
            "train s": t["wall_s"],
            "total s": rep["timing"]["total"],
            "peak MB": t["peak_memory_mb"],
            "weights moved": t["params_updated"],
            "tokens": t["tokens"],
        }
        rl = out / f"{name}-relearn" / "report.json"
        if rl.exists():
            r = json.loads(rl.read_text())
            row["relearn"] = {
                "recovery": r["recovery"],
                "known before": r["before_relearning"]["known"],
                "known after": r["after_relearning"]["known"],
                "mc after": r["after_relearning"]["mc"],
            }
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    def pair(v):
        return "-" if v[0] is None else f"{v[0]:.3f} → {v[1]:.3f}"

    heads = ["job", "concept MC", "concept MC known", "other MC", "retain ppl", "corpus concept greedy", "steps kept"]
    heads += ["train s", "total s", "peak MB", "relearn recovery"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for r in rows:
        rl = r.get("relearn")
        cells = [r["job"]] + [pair(r[h]) for h in heads[1:6]] + [r["steps kept"], f"{r['train s']:.0f}"]
        cells += [f"{r['total s']:.0f}", f"{r['peak MB']:.0f}"]
        cells += ["-" if not rl or rl["recovery"] is None else f"{rl['recovery']:.0%} (MC {rl['mc after']:.3f})"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--out", default=None, help="[default: bench/unlearn_runs/<model>]")
    ap.add_argument("--only", nargs="*", help="job names (methods) to run")
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more unlearn arguments for --only jobs")
    ap.add_argument("--name", default=None, help="record name for a single --only job with --extra")
    ap.add_argument("--no-relearn", action="store_true")
    ap.add_argument("--table", action="store_true")
    a = ap.parse_args()
    out = Path(a.out or f"bench/unlearn_runs/{a.model}")
    if a.table:
        rows = summary(out)
        (out.parent / f"summary-{a.model}.json").write_text(json.dumps(rows, indent=2) + "\n")
        print(table(rows))
        return
    for name, args in jobs(a.model, a.only):
        run(out, a.name or name, args + a.extra, relearn=not a.no_relearn)


if __name__ == "__main__":
    main()
