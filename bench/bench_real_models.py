"""Real-model benchmark: `prune` (each ranking), `train-sae`, `clamp`, `evaluate` on gemma-3-270m and smollm2.

Usage (long: run it in the background, it resumes where it stopped):
    nohup .venv/bin/python bench/bench_real_models.py --out bench/real_models > bench/real_models.log 2>&1 &
    .venv/bin/python bench/bench_real_models.py --out bench/real_models --table   # the markdown tables

Each job is the CLI command a user runs, in a subprocess, with its own output folder under
``--out/runs``; its ``report.json`` holds every figure. Jobs whose folder exists are skipped.
The models must have been fetched (`mechunlearn fetch gemma-3-270m smollm2-135m-instruct`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from mechunlearn.core.versions import library_versions

MODELS = ["gemma-3-270m", "smollm2-135m-instruct"]
EXE = str(Path(sys.executable).with_name("mechunlearn"))


SAE_HOOK = "blocks.12.hook_resid_post"  # the site of Gemma Scope 2's layer-12 residual SAEs for this model
GEMMA_SAE = f"saes/gemma-3-270m/{SAE_HOOK}"


def jobs() -> list[tuple[str, list[str]]]:
    """Every job, most important first (the queue resumes where it stopped).

    The default prune runs in float32 on both models; the rest runs in bfloat16, which this
    project's CPUs (AVX512-BF16) run ~2.7x faster (same multiple-choice decisions on a 48-fact
    check of gemma), so the whole queue fits a working session.
    """
    g, s = MODELS
    bf16 = ["--dtype", "bfloat16"]
    return [
        (f"{g}-prune-attribution", ["prune", "--model", g]),
        (f"{s}-prune-attribution", ["prune", "--model", s]),
        (f"{g}-train-sae", ["train-sae", "--model", g, "--hook", SAE_HOOK, "--d-sae", "4096", "--tokens", "1500000"]),
        (f"{g}-clamp-bf16", ["clamp", "--model", g, "--sae", GEMMA_SAE, *bf16]),
        (f"{g}-prune-probeless-bf16", ["prune", "--model", g, "--method", "probeless", *bf16]),
        (f"{s}-prune-probeless-bf16", ["prune", "--model", s, "--method", "probeless", *bf16]),
        (f"{g}-evaluate", ["evaluate", "--model", g, "--json"]),
        (f"{g}-evaluate-bf16", ["evaluate", "--model", g, "--json", *bf16]),
        (f"{s}-evaluate", ["evaluate", "--model", s, "--json"]),
        (f"{s}-prune-probe-bf16", ["prune", "--model", s, "--method", "probe", *bf16]),
        (f"{g}-prune-probe-bf16", ["prune", "--model", g, "--method", "probe", *bf16]),
    ]


def run(out: Path, name: str, args: list[str]) -> None:
    folder = out / "runs" / name
    done = out / "runs" / f"{name}.json"
    if done.exists():
        return
    cmd = [EXE, *args] + {"evaluate": [], "train-sae": ["--out", GEMMA_SAE]}.get(args[0], ["--out", str(folder)])
    print(f"[{time.strftime('%H:%M:%S')}] {' '.join(cmd)}", flush=True)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    (out / "runs").mkdir(parents=True, exist_ok=True)
    (out / "runs" / f"{name}.log").write_text(proc.stdout + proc.stderr)
    rec = {"command": "mechunlearn " + " ".join(args), "rc": proc.returncode, "wall_s": round(wall, 1)}
    rec["versions"] = library_versions()
    if proc.returncode == 0 and args[0] == "evaluate":
        rec["evaluate"] = json.loads(proc.stdout)
    elif proc.returncode == 0 and args[0] == "train-sae":
        rec["quality"] = json.loads((Path(GEMMA_SAE) / "quality.json").read_text())
    elif proc.returncode == 0:
        rec["report"] = str(folder / "report.json")
    done.write_text(json.dumps(rec, indent=2) + "\n")
    print(f"  rc {proc.returncode}, {wall:.0f} s", flush=True)


def summary(out: Path) -> dict:
    """The figures of every finished run (headline metrics before/after, budget, timing), for committing.

    Run folders (``--out/runs``, with 1 GB checkpoints) are not committed; this file is.
    """
    from mechunlearn.evaluation.report import headline_keys

    res = {}
    for rec_path in sorted((out / "runs").glob("*.json")):
        rec = json.loads(rec_path.read_text())
        entry = {k: rec[k] for k in ("command", "rc", "wall_s", "versions") if k in rec}
        if "report" in rec:
            rep = json.loads(Path(rec["report"]).read_text())
            keys = headline_keys(rep["before"])
            entry |= {
                "before": {k: rep["before"][k] for k in keys},
                "after": {k: rep["after"].get(k) for k in keys},
                "known": rep.get("known"),
                "budget": rep.get("budget"),
                "edit": {k: v for k, v in rep["edit"].items() if k not in ("neurons", "features", "ranking_metrics")},
                "timing": rep.get("timing"),
            }
        else:
            entry |= {k: rec[k] for k in ("evaluate", "quality") if k in rec}
        res[rec_path.stem] = entry
    return res


def table(out: Path) -> str:
    rows = [
        "| run | wall | budget chose | concept MC (known) | other MC (known) | retain ppl | forget ppl |",
        "|---|---|---|---|---|---|---|",
    ]
    for rec_path in sorted((out / "runs").glob("*.json")):
        rec = json.loads(rec_path.read_text())
        if "report" not in rec:
            continue
        rep = json.loads(Path(rec["report"]).read_text())
        b, a = rep["before"], rep["after"]

        def pair(key: str, b=b, a=a) -> str:
            return f"{b.get(key, float('nan')):.3f} -> {a.get(key, float('nan')):.3f}"

        chose = rep.get("budget") or {}
        rows.append(
            f"| {rec_path.stem} | {rec['wall_s']:.0f} s | {chose.get('chosen', '-')} | "
            f"{pair('natural.forget.test.mc')} ({pair('natural.forget.test.known.mc')}) | "
            f"{pair('natural.retain.test.mc')} ({pair('natural.retain.test.known.mc')}) | "
            f"{pair('retain_ppl')} | {pair('forget_ppl')} |"
        )
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", type=Path, default=Path("bench/real_models"))
    p.add_argument("--table", action="store_true", help="print the tables of finished runs and exit")
    a = p.parse_args()
    if a.table:
        if not any((a.out / "runs").glob("*.json")):  # run folders are not committed: keep the committed summary
            sys.exit(f"no run records under {a.out / 'runs'}; {a.out / 'summary.json'} is left as it is")
        (a.out / "summary.json").write_text(json.dumps(summary(a.out), indent=1) + "\n")
        print(table(a.out))
        return
    for name, args in jobs():
        run(a.out, name, args)
    print(table(a.out))


if __name__ == "__main__":
    main()
