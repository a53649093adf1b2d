"""How long ``mechunlearn evaluate`` takes, and what every check says about an unedited model.

    python bench/bench_evaluate.py [--model gemma-3-270m] [--dtype float32]

One process, one model load, three measurements side by side:

- ``before_issue_20``: the report as it was (facts, paraphrase, perplexity on validation + test,
  the known facts recorded on every split);
- ``default``: ``mechunlearn evaluate --model M`` today (the same checks, known facts recorded on
  the splits it reports);
- ``all_but_relearn``: ``--checks facts,paraphrase,perplexity,familiarity,adversarial,mia``.

Writes ``bench/evaluate/<model>.json``: seconds per check and in total, the scorecard and every
metric of the last measurement, and the library versions.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from mechunlearn.concepts.folders import load_concept
from mechunlearn.core.io import write_json
from mechunlearn.core.versions import library_versions
from mechunlearn.evaluation.report import EvalSets
from mechunlearn.evaluation.scorecard import scorecard
from mechunlearn.models import load_model

SPLITS = ("validation", "test")
ALL_BUT_RELEARN = ["facts", "paraphrase", "perplexity", "familiarity", "adversarial", "mia"]


def measure(model, concept, checks, known_splits) -> dict:
    ev = EvalSets(concept, checks=checks)
    t = time.perf_counter()
    metrics = ev.measure(model, SPLITS, record_known=True, known_splits=known_splits, stage="model")
    return {
        "checks": ev.names,
        "seconds": round(time.perf_counter() - t, 1),
        "check_seconds": ev.seconds["model"],
        "scorecard": scorecard(metrics, metrics),
        "metrics": metrics,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="gemma-3-270m")
    p.add_argument("--dtype", default="float32")
    a = p.parse_args()
    torch.manual_seed(0)
    model = load_model(a.model, device="cpu", dtype=a.dtype)
    concept = load_concept("harry_potter")
    runs = {
        "before_issue_20": measure(model, concept, None, None),
        "default": measure(model, concept, None, SPLITS),
        "all_but_relearn": measure(model, concept, ALL_BUT_RELEARN, SPLITS),
    }
    record = {
        "command": f"python bench/bench_evaluate.py --model {a.model} --dtype {a.dtype}",
        "machine": f"{torch.get_num_threads()} CPU threads",
        "versions": library_versions(),
        "runs": {
            k: {kk: vv for kk, vv in v.items() if kk != "metrics" or k == "all_but_relearn"} for k, v in runs.items()
        },
    }
    out = Path(__file__).parent / "evaluate" / f"{a.model}.json"
    write_json(out, record)
    print(
        json.dumps(
            {k: {"seconds": v["seconds"], "check_seconds": v["check_seconds"]} for k, v in runs.items()}, indent=2
        )
    )


if __name__ == "__main__":
    main()
