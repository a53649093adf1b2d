"""``synth``: the model's own corpus of the concept, cached per model and concept.

Writes (by default into ``data/synth/<model>/<concept>/``, where ``unlearn --forget-data synth``
and ``--retain-data synth`` find it): ``passages.jsonl`` (the forget corpus: ``{"text", "entity",
"category"}``), ``keep.jsonl`` (the model's general and other-fiction text), ``questions.jsonl``,
``answers.jsonl`` (``{"prompt", "answer"}``: guardrailed answers, the relabelled fine-tuning data),
``rejected.jsonl`` (every sample dropped, with its reason), ``synth.json`` (counts, the generating
model and its fingerprint, seconds, library versions), ``config.json`` and ``run.log``. A folder that
already holds a corpus of the same model, concept and settings is reused, not regenerated.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mechunlearn.concepts.folders import load_concept
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import write_json, write_jsonl
from mechunlearn.core.runs import run_folder
from mechunlearn.core.versions import library_versions
from mechunlearn.pipeline.config import JsonConfig, build
from mechunlearn.synth.corpus import SynthConfig, synth_corpus
from mechunlearn.synth.folder import synth_folder

FILES = {"passages": "passages.jsonl", "keep": "keep.jsonl", "questions": "questions.jsonl", "answers": "answers.jsonl"}


@dataclass
class SynthJobConfig(JsonConfig):
    """Args:
    concept: concept name or folder (needs ``entities.txt``; ``guardrail.txt`` for the answers).
    model: checkpoint folder, real model name or hub id (``None``: the bundled model).
    options: :class:`~mechunlearn.synth.corpus.SynthConfig` options (passages, questions, probe, seed, ...).
    out: the folder (default ``data/synth/<model>/<concept>/``).
    device, dtype: as elsewhere.
    """

    concept: str = "harry_potter"
    model: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    out: str | None = None
    device: str | None = None
    dtype: str = "float32"

    def __post_init__(self) -> None:
        self.synth_config()

    def synth_config(self) -> SynthConfig:
        return build(SynthConfig, self.options, "synth option")


def synth_job(cfg: SynthJobConfig, *, print_fn=print) -> dict[str, Any]:
    from mechunlearn.models.loading import load_model
    from mechunlearn.synth.entities import read_entities

    concept = load_concept(cfg.concept)
    read_entities(concept)  # a concept without entities fails before a model loads
    scfg = cfg.synth_config()
    if scfg.questions and scfg.answers_per_question:
        _ = concept.guardrail_text
    model = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype)
    out = Path(cfg.out) if cfg.out else synth_folder(model, concept)
    settings = {
        "concept": concept.name,
        "model": model.name,
        "fingerprint": model.fingerprint(),
        "dtype": cfg.dtype,
        "synth": scfg.__dict__,
    }
    if (out / "synth.json").is_file():
        made = json.loads((out / "synth.json").read_text(encoding="utf-8"))
        # a corpus written before answer_filter existed dropped answers naming a keyword only
        made.get("settings", {}).get("synth", {}).setdefault("answer_filter", "keywords")
        if made.get("settings") == settings:
            print_fn(f"reusing {out}: a corpus of the same model, concept and settings ({_counts(made['counts'])})")
            return made
        differ = sorted(
            k
            for k in set(made.get("settings", {})) | set(settings)
            if made.get("settings", {}).get(k) != settings.get(k)
        )
        raise MechUnlearnError(
            f"{out} holds a synthetic corpus made with other settings (differing: {differ}); "
            "give another --out, or remove the folder to regenerate"
        )
    t = time.perf_counter()
    with run_folder(out, cfg.to_dict() | {"out": str(out)}) as tmp:
        corpus = synth_corpus(model, concept, scfg)
        if not corpus["passages"]:
            raise MechUnlearnError(
                f"the model wrote no passage about '{concept.name}' that its classifier accepted "
                f"({corpus['counts']['rejected']['passage']} rejected): an empty synthetic corpus; "
                "check entities.txt and keywords.txt, or try --probe"
            )
        for key, name in FILES.items():
            write_jsonl(tmp / name, corpus[key])
        write_jsonl(tmp / "rejected.jsonl", corpus["rejected"])
        made = {
            "settings": settings,
            "counts": corpus["counts"],
            "seconds": round(time.perf_counter() - t, 1),
            "versions": library_versions(),
        }
        write_json(tmp / "synth.json", made)
    print_fn(f"{_counts(made['counts'])} in {made['seconds']:.0f} s")
    print_fn(f"wrote {out}")
    return made


def _counts(c: dict) -> str:
    return (
        f"{c['passages']} passages, {c['keep']} keep-side passages, {c['questions']} questions, "
        f"{c['answers']} guardrailed answers; rejected {sum(c['rejected'].values())}"
    )
