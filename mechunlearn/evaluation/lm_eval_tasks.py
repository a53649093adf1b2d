"""The concept's multiple-choice fact sets as lm-evaluation-harness tasks, so any lm-eval user scores
any checkpoint on them (``mechunlearn export-tasks``), and lm-eval run on a hooked model.

One task per fact set with choices and side: ``mechunlearn_{concept}_{set}_{side}``, the set's
test-split facts (the split reports give) in a local JSON-lines file beside the task's YAML. lm-eval
scores an item as this library does: the summed log-likelihood of ``" " + choice`` after the prompt,
the highest one right (``acc``).
"""

from __future__ import annotations

import json
from pathlib import Path

from mechunlearn.concepts.folders import Concept, fact_split
from mechunlearn.core.errors import MechUnlearnError

TEMPLATE = """task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
output_type: multiple_choice
test_split: test
doc_to_text: prompt
doc_to_choice: choices
doc_to_target: answer_index
target_delimiter: " "
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
  source: mechunlearn export-tasks ({concept}, fact set {set}, {side} side, test split)
"""


def task_name(concept: Concept, set_name: str, side: str) -> str:
    return f"mechunlearn_{concept.name}_{set_name}_{side}"


def export_tasks(concept: Concept, folder: Path, final: Path | None = None) -> list[str]:
    """Write ``{task}.yaml`` and ``{task}.jsonl`` per multiple-choice fact set and side into ``folder``.

    The data path in each YAML is absolute (lm-eval reads it from any working directory): under
    ``final``, where ``folder`` will be renamed to, if given."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for set_name, fs in concept.fact_sets.items():
        for side in ("forget", "retain"):
            facts = [f for i, f in enumerate(fs.side(side)) if fact_split(i) == "test" and f.choices]
            if not facts:
                continue
            name = task_name(concept, set_name, side)
            data = folder / f"{name}.jsonl"
            rows = [{"prompt": f.prompt, "choices": list(f.choices), "answer_index": f.right} for f in facts]
            data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
            where = (Path(final) / data.name) if final is not None else data
            yaml = TEMPLATE.format(task=name, data=where.resolve(), concept=concept.name, set=set_name, side=side)
            (folder / f"{name}.yaml").write_text(yaml, encoding="utf-8")
            names.append(name)
    if not names:
        raise MechUnlearnError(f"concept '{concept.name}' has no multiple-choice facts in its test split to export")
    return names


def run_lm_eval(model, tasks: list[str], include_path: Path | None, batch_size: int, limit: int | None) -> dict:
    """lm-eval's ``simple_evaluate`` on ``model`` (a :class:`HookedLM`, its edits in force) through an ``HFLM``
    wrapping its HF module; ``{task: {metric: value}}``."""
    try:
        from lm_eval import simple_evaluate
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError as e:
        raise MechUnlearnError(
            "lm-eval is not installed: pip install 'mechunlearn[lm-eval]' (or pip install lm_eval)"
        ) from e
    manager = TaskManager(include_path=str(include_path) if include_path else None)
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        raise MechUnlearnError(
            f"unknown lm-eval task(s) {unknown}; this concept's exported tasks and lm-eval's own "
            "(hub tasks such as mmlu need the network to download their data)"
        )
    lm = HFLM(pretrained=model.hf_model, tokenizer=model.tokenizer, backend="causal", batch_size=batch_size)
    with model.hooked():
        out = simple_evaluate(model=lm, tasks=tasks, task_manager=manager, log_samples=False, limit=limit)
    return {
        task: {k.split(",")[0]: v for k, v in res.items() if isinstance(v, int | float) and "," in k}
        for task, res in out["results"].items()
    }
