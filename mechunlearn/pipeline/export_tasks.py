"""``export-tasks``: the concept's multiple-choice fact sets as lm-evaluation-harness tasks."""

from __future__ import annotations

from pathlib import Path

from mechunlearn.concepts.folders import load_concept
from mechunlearn.core.io import staged_dir
from mechunlearn.evaluation.lm_eval_tasks import export_tasks


def export_tasks_job(concept: str, out: Path, *, print_fn=print) -> list[str]:
    c = load_concept(concept)
    with staged_dir(out) as tmp:
        names = export_tasks(c, tmp, final=Path(out))
    print_fn("\n".join(names))
    print_fn(
        f"wrote {len(names)} tasks to {out}: lm_eval --model hf --model_args pretrained=CHECKPOINT "
        f"--include_path {out} --tasks {','.join(names)}"
    )
    return names
