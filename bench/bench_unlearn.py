"""Gradient unlearning benchmark: `unlearn` (each method) and the relearning attack, side by side.

Usage (long on real models: run it in the background; it resumes where it stopped):
    nohup .venv/bin/python bench/bench_unlearn.py --model gemma-3-270m > bench/unlearn-gemma.log 2>&1 &
    .venv/bin/python bench/bench_unlearn.py --model bundled --table     # the markdown table

Each job is the CLI command a user runs (`mechunlearn unlearn ...`, then `mechunlearn relearn`
on its folder), in a subprocess with its own output folder under ``--out`` (default
``bench/unlearn_runs/<model>``); jobs whose record exists are skipped. A stacked job (``prune-then-npo``)
runs its ``prune`` first and continues from it. Figures: the test split (the budget reads validation);
"wall s" is the whole job's wall time (every command, model loading and evaluation included). The
relearning attack is not run on a job whose budget kept step 0 (its released model is the starting one).

The run folders are not committed; ``--table`` writes ``summary-<model>.json`` from them, and where
they are absent prints the table from that committed summary (nothing is rerun or rewritten).
Relearn column: the measured half's MC share before and after the attack (best learning rate by MC)
and MC recovery = (after - before) / (1 - before), every measured item being right before
unlearning. Summaries written before the MC share before the attack was kept have only the relearn
command's own ``recovery``, on ``known`` (MC answer for natural-set items, greedy completion for
corpus-set items, which have no choices): the table prints that one and says so.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from mechunlearn.cli.options import UNLEARNING_METHODS
from mechunlearn.core.versions import library_versions

EXE = str(Path(sys.executable).with_name("mechunlearn"))
ALL = list(UNLEARNING_METHODS)  # every registered method, in the order `mechunlearn unlearn --help` lists them
REAL = ["ga_kl", "npo", "simnpo", "rmu", "yao"]
SAE = {"gemma-3-270m": "saes/gemma-3-270m/blocks.12.hook_resid_post"}
# the bundled model is a memoriser trained at lr 1e-3: the real-model default (1e-4) moves nothing on it
BUNDLED_LR = ["--lr", "1e-3"]
# rows of committed summaries that no job of this script reruns: left out of the table
LEFT_OUT = {
    "rmu-check-every-60": "rmu at an earlier default (a budget check every 60 steps); its recorded command is rmu's",
}


def jobs(model: str, only: list[str] | None) -> list[tuple[str, list[list[str]]]]:
    """(name, commands): each job's last command is an ``unlearn`` whose folder is ``--out/<name>``;
    earlier commands (a ``prune`` or ``clamp`` it continues from) write ``--out/<name>-start``."""
    m = [] if model == "bundled" else ["--model", model]
    lr = BUNDLED_LR if model == "bundled" else []
    out: list[tuple[str, list[list[str]]]] = [("default", [["unlearn", *m, *lr]])]
    if model == "bundled":  # the recipe at its own (real-model) learning rate, for the record
        out.append(("default-recipe-lr", [["unlearn"]]))
    out += [(name, [["unlearn", "--method", name, *m, *lr]]) for name in (ALL if model == "bundled" else REAL)]
    out += [
        # the recipe with LoRA adapters in place of its localisation
        ("default-lora", [["unlearn", *m, *lr, "--lora"]]),
        # the recipe (localised NPO) after a default prune / clamp, their edits in force while training
        ("prune-then-default", [["prune", *m], ["unlearn", "--from", "{start}", *lr]]),
    ]
    if model in SAE or model == "bundled":
        sae = ["--sae", SAE[model]] if model in SAE else []
        out.append(("clamp-then-default", [["clamp", *m, *sae], ["unlearn", "--from", "{start}", *lr]]))
    return [j for j in out if not only or j[0] in only]


def relearn_only(out: Path, name: str) -> None:
    """(Re)run the relearning attack on a finished job whose relearn folder is missing."""
    folder, dest = out / name, out / f"{name}-relearn"
    rec_path = out / f"{name}.json"
    if not (folder / "report.json").is_file() or dest.exists() or unchanged(folder):
        return
    cmd = [EXE, "relearn", str(folder), "--out", str(dest)]
    print(f"[{time.strftime('%H:%M:%S')}] {' '.join(cmd)}", flush=True)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    (out / f"{name}.relearn.log").write_text(proc.stdout + proc.stderr)
    rec = json.loads(rec_path.read_text())
    wall_s = round(time.perf_counter() - t, 1)
    rec["relearn"] = {"rc": proc.returncode, "wall_s": wall_s, "versions": library_versions()}
    rec_path.write_text(json.dumps(rec, indent=2) + "\n")
    print(f"  rc {proc.returncode}, {rec['relearn']['wall_s']:.0f} s", flush=True)


def unchanged(folder: Path) -> bool:
    """Whether an unlearn run released its starting weights (the budget kept step 0): nothing to attack."""
    rep = folder / "report.json"
    return rep.is_file() and json.loads(rep.read_text())["training"]["kept_step"] == 0


def run(out: Path, name: str, commands: list[list[str]], relearn: bool) -> None:
    folder, start = out / name, out / f"{name}-start"
    rec_path = out / f"{name}.json"
    if rec_path.exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    rec: dict = {"commands": [], "versions": library_versions()}
    steps = [(c[0], [x.replace("{start}", str(start)) for x in c], start) for c in commands[:-1]]
    steps.append(("unlearn", [x.replace("{start}", str(start)) for x in commands[-1]], folder))
    if relearn:
        steps.append(("relearn", ["relearn", str(folder)], Path(str(folder) + "-relearn")))
    for step, args, dest in steps:
        if step == "relearn" and unchanged(folder):
            rec[step] = {"skipped": "the budget kept step 0: the released model is the one before unlearning"}
            continue
        cmd = [EXE, *args, "--out", str(dest)]
        rec["commands"].append("mechunlearn " + " ".join(args[:1] + args[1:]) + f" --out {dest}")
        if dest.exists():  # a start folder an earlier, interrupted job already wrote
            continue
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
    ("other greedy", "natural.retain.test.greedy"),
    ("corpus concept greedy", "corpus.forget.test.greedy"),
    ("corpus other greedy", "corpus.retain.test.greedy"),
    ("retain ppl", "retain_ppl"),
    ("forget ppl", "forget_ppl"),
]


def figures(rep: dict) -> dict:
    """Before (the unedited model: the stack's first stage) and after, for every KEYS figure."""
    b, a = rep["stages"][0]["metrics"], rep["after"]
    return {label: (b.get(key), a.get(key)) for label, key in KEYS}


def wall(rec: dict, *, without: tuple[str, ...]) -> float:
    """Seconds the job's commands took (each record entry with a ``wall_s``), leaving out ``without``."""
    return sum(v["wall_s"] for k, v in rec.items() if isinstance(v, dict) and "wall_s" in v and k not in without)


def summary(out: Path) -> list[dict]:
    rows = []
    for rec_path in sorted(out.glob("*.json")):
        name = rec_path.stem
        rep_path = out / name / "report.json"
        if not rep_path.exists():
            continue
        rep, rec = json.loads(rep_path.read_text()), json.loads(rec_path.read_text())
        start = out / f"{name}-start" / "report.json"
        if start.exists():  # the prune or clamp a stacked job started from, alone: side by side in one run
            srep = json.loads(start.read_text())
            stage = srep["stages"][-1]["name"]
            start_row = {"job": f"{name}-start ({stage} alone)", "commands": rec["commands"][:1]}
            rows.append(start_row | {"versions": rec.get("versions")} | figures(srep))
            rows[-1]["wall s"] = wall(rec, without=("unlearn", "relearn"))
        t = rep["training"]
        row = {"job": name, "commands": rec["commands"], "versions": rec.get("versions")}
        row["stages"] = [s["name"] for s in rep["stages"]]
        row |= figures(rep)
        row |= {
            "steps kept": f"{t['kept_step']}/{t['steps']}",
            "stopped": t["stopped"],
            "train s": t["wall_s"],
            "total s": rep["timing"]["total"],
            "wall s": wall(rec, without=("relearn",)),
            "peak MB": t["peak_memory_mb"],
            "weights moved": t["params_updated"],
            "tokens": t["tokens"],
        }
        # the last budget check (validation split): what the method had done when the run stopped,
        # also where the budget then threw it away
        checks = rep.get("budget", {}).get("checks") or []
        if checks:
            c = checks[-1]
            row["last check"] = {k: c.get(k) for k in ("step", "retain_loss", "ppl_ratio", "forget_known_still")}
        rl = out / f"{name}-relearn" / "report.json"
        if t["kept_step"] == 0:
            row["relearn"] = {"recovery": None, "skipped": "not run (model unchanged)"}
        elif rl.exists():
            row["relearn"] = relearn_figures(json.loads(rl.read_text()))
        rows.append(row)
    return rows


def relearn_figures(r: dict) -> dict:
    """A relearn report's figures on the measured half. ``recovery``, ``known *`` and ``mc after`` are the
    relearn command's (best learning rate by ``known``, which mixes MC items and greedy corpus items);
    ``mc before``, ``mc best after`` and ``recovery mc`` are on the MC items alone (best learning rate by MC)."""
    before, after = r["before_relearning"], r["after_relearning"]
    out = {
        "recovery": r["recovery"],
        "best lr": r.get("best_lr"),
        "measured on": r.get("measured_on"),
        "known before": before["known"],
        "known after": after["known"],
        "mc before": before["mc"],
        "mc after": after["mc"],
    }
    mcs = [a["after"]["mc"] for a in r.get("attempts", []) if a["after"].get("mc") is not None]
    if before["mc"] is not None and mcs:
        out["mc best after"] = max(mcs)
        gap = 1.0 - before["mc"]
        out["recovery mc"] = (out["mc best after"] - before["mc"]) / gap if gap > 1e-9 else None
    return out


def relearn_cell(rl: dict | None) -> str:
    if not rl:
        return "-"
    if "skipped" in rl:
        return rl["skipped"]
    if "recovery mc" in rl:
        rec = "-" if rl["recovery mc"] is None else f"{rl['recovery mc']:.0%}"
        return f"MC {rl['mc before']:.2f} → {rl['mc best after']:.2f}: {rec}"
    if rl["recovery"] is None:
        return "-"
    # an older summary: the MC share before the attack was not kept, only the relearn command's `known` recovery
    known = f"known {rl['known before']:.2f} → {rl['known after']:.2f}"
    return f"{known}: {rl['recovery']:.0%}; MC after {rl['mc after']:.2f}"


def table(rows: list[dict], model: str) -> str:
    def pair(v):
        return "-" if v[0] is None else f"{v[0]:.3f} → {v[1]:.3f}"

    # the bundled model memorised its corpus' phrasing: its `corpus` set's greedy figures are the ones that move
    greedy = (
        ["corpus concept greedy", "corpus other greedy"] if model == "bundled" else ["concept greedy", "other greedy"]
    )
    heads = ["job", "concept MC", "concept MC known", "other MC", *greedy, "retain ppl", "steps kept"]
    heads += ["last check: step, retain loss, forget known (val)", "train s", "wall s", "peak MB"]
    heads += ["relearn (measured half)"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    order = [name for name, _ in jobs(model, None)]

    def place(r: dict) -> tuple[int, bool]:  # the jobs' order, a stacked job's start row first
        name = r["job"].split(" ")[0]
        base = name.removesuffix("-start")
        return (order.index(base) if base in order else len(order), name == base)

    for r in sorted(rows, key=place):
        if r["job"] in LEFT_OUT:
            print(f"left out: {r['job']} ({LEFT_OUT[r['job']]})", file=sys.stderr)
            continue
        c = r.get("last check")
        last = "-" if not c else f"{c['step']}, {c['retain_loss']:.3f}, {c['forget_known_still']:.2f}"
        cells = [r["job"]] + [pair(r[h]) for h in heads[1:7]] + [r.get("steps kept", "-"), last]
        cells += [f"{r[k]:.0f}" if r.get(k) is not None else "-" for k in ("train s", "wall s", "peak MB")]
        cells.append(relearn_cell(r.get("relearn")))
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
    ap.add_argument("--relearn-only", action="store_true", help="rerun missing relearn folders of finished jobs")
    a = ap.parse_args()
    out = Path(a.out or f"bench/unlearn_runs/{a.model}")
    if a.table:
        path = out.parent / f"summary-{a.model}.json"
        if any(out.glob("*.json")):
            rows = summary(out)
            path.write_text(json.dumps(rows, indent=2) + "\n")
        else:  # the run folders are not committed: the table of the committed summary, left as it is
            print(f"no run records under {out}: the table of {path}", file=sys.stderr)
            rows = json.loads(path.read_text())
        print(table(rows, a.model))
        return
    if a.relearn_only:
        for name, _ in jobs(a.model, a.only):
            relearn_only(out, a.name or name)
        return
    for name, commands in jobs(a.model, a.only):
        commands[-1] = commands[-1] + a.extra
        run(out, a.name or name, commands, relearn=not a.no_relearn)


if __name__ == "__main__":
    main()
