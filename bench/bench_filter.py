"""`mechunlearn filter` with and without the concept probe: what each removes, and at what cost.

Usage:
    .venv/bin/python bench/bench_filter.py --model gemma-3-270m      # ~2 min on 2 CPU cores
    .venv/bin/python bench/bench_filter.py --model bundled

The input is the concept's own forget and retain corpora (one passage per line), which the probe
is never trained on (it reads the probing sentences concept.txt / other.txt). Each run is the CLI
command a user types, in a subprocess; the filtered file is then compared with the passages' origin.
Counts are given per corpus split: ``train`` (used to choose the probe's regularisation, see
``ClassifierConfig``) and ``test`` (held back; report this one). The summary goes to
``bench/filter_runs/summary-<model>.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = str(Path(sys.executable).with_name("mechunlearn"))


def origins() -> list[tuple[str, str, str, bool]]:
    """(passage, side, split, names a keyword) for every forget and retain passage."""
    from mechunlearn.concepts.folders import load_concept

    c = load_concept("harry_potter")
    out = []
    for side, corpus, (train, _) in (
        ("forget", c.forget_corpus, c.forget_split()),
        ("retain", c.retain_corpus, c.retain_split()),
    ):
        test = set(c.held_texts(side, "test"))
        train = set(train)
        for t in corpus:
            split = "train" if t in train else "test" if t in test else "validation"
            out.append((t, side, split, c.mentions(t)))
    return out


def counts(passages, kept: set[str]) -> dict:
    res = {}
    for split in ("train", "test", "all"):
        rows = [p for p in passages if split == "all" or p[2] == split]

        def caught(sel, rows=rows):
            chosen = [p for p in rows if sel(p)]
            return [sum(p[0] not in kept for p in chosen), len(chosen)]

        res[split] = {
            "forget_keyword_free_removed": caught(lambda p: p[1] == "forget" and not p[3]),
            "forget_removed": caught(lambda p: p[1] == "forget"),
            "retain_removed": caught(lambda p: p[1] == "retain"),
        }
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="bundled")
    args = ap.parse_args()
    passages = origins()
    from mechunlearn.core.versions import library_versions

    summary = {"model": args.model, "runs": {}, "versions": library_versions()}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "corpus.txt"
        src.write_text("".join(p[0] + "\n" for p in passages))
        m = [] if args.model == "bundled" else ["--model", args.model]
        for name, extra in (("keyword", []), ("keyword+probe", ["--probe", *m])):
            dst = Path(tmp) / f"{name}.txt"
            cmd = ["filter", str(src), str(dst), *extra]
            t = time.perf_counter()
            subprocess.run([EXE, *cmd], check=True)
            wall = time.perf_counter() - t
            rec = json.loads(Path(f"{dst}.filter.json").read_text())
            summary["runs"][name] = {
                "command": "mechunlearn " + " ".join(cmd),
                "wall_s": round(wall, 1),
                "counts": counts(passages, set(dst.read_text().splitlines())),
                "probe_metrics": rec.get("probe_metrics"),
            }
    out = Path(__file__).parent / "filter_runs" / f"summary-{args.model}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"| filter ({args.model}) | split | keyword-free concept passages removed | concept passages removed "
        "| retain passages removed | wall s |\n|---|---|---|---|---|---|"
    )
    for name, r in summary["runs"].items():
        for split in ("test", "train", "all"):
            c = r["counts"][split]
            cell = ["{}/{}".format(*c[k]) for k in ("forget_keyword_free_removed", "forget_removed", "retain_removed")]
            print(f"| {name} | {split} | {' | '.join(cell)} | {r['wall_s']} |")


if __name__ == "__main__":
    main()
