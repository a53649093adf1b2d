"""Does the bundled model's training script still reproduce the committed model?

    python bench/bench_bundled_training.py [--trained DIR]

Trains the bundled model from scratch with today's code (``python -m mechunlearn.bundled.train``,
~20 min on 2 cores) into a temporary folder, or reads a folder it already wrote (``--trained``),
and records its metrics beside the committed model's ``metrics.json``, with the weights' largest
difference and the library versions, in ``bench/bundled_training/record.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from safetensors.torch import load_file

from mechunlearn.core.io import write_json
from mechunlearn.core.paths import bundled_model_dir
from mechunlearn.core.versions import library_versions

OUT = Path(__file__).parent / "bundled_training" / "record.json"


def compare(trained: Path, committed: Path) -> dict:
    a, b = load_file(str(committed / "model.safetensors")), load_file(str(trained / "model.safetensors"))
    new, old = json.loads((trained / "metrics.json").read_text()), json.loads((committed / "metrics.json").read_text())
    keys = ["train_steps", "first_loss", "final_loss", "forget_fact_acc", "retain_fact_acc"]
    keys += ["forget_fact_acc_paraphrased", "retain_fact_acc_paraphrased", "train_seconds"]
    return {
        "committed": {k: old[k] for k in keys},
        "retrained": {k: new[k] for k in keys},
        "max_abs_weight_diff": max(float((a[k] - b[k]).abs().max()) for k in a),
        "max_abs_weight": max(float(a[k].abs().max()) for k in a),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--trained", type=Path, help="a folder `python -m mechunlearn.bundled.train --out` wrote")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trained = a.trained
        if trained is None:
            trained = Path(tmp) / "model"
            subprocess.run([sys.executable, "-m", "mechunlearn.bundled.train", "--out", str(trained)], check=True)
        record = {
            "command": "python -m mechunlearn.bundled.train --out DIR; "
            "python bench/bench_bundled_training.py --trained DIR",
            "note": "the committed model was trained by the loop before issue 19 (same batches, schedule and loss)",
            "versions": library_versions(),
        } | compare(trained, bundled_model_dir())
    write_json(OUT, record)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
