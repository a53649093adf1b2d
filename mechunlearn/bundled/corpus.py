"""The bundled model's training corpus and the fact sets derived from the same knowledge.

``data/corpus/knowledge_*.jsonl`` holds world knowledge, one fact per line:
``{"domain", "prompt", "answer", "paraphrase", "statements": [...]}``. The statements go
into the training corpus as ordinary sentences; the prompts become the concept's fact sets
(``facts_forget.jsonl`` for the concept's domain, ``facts_retain.jsonl`` for the rest); the
paraphrases never appear in training and test whether knowledge generalises past wording.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from mechunlearn.concepts.folders import Concept
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import read_jsonl, read_lines
from mechunlearn.core.paths import corpus_dir


def load_knowledge(root: Path | None = None) -> list[dict]:
    """All knowledge records from ``data/corpus/knowledge_*.jsonl`` (sorted by file)."""
    root = root or corpus_dir()
    files = sorted(root.glob("knowledge_*.jsonl"))
    if not files:
        raise MechUnlearnError(f"no knowledge_*.jsonl files in {root}")
    rows: list[dict] = []
    for f in files:
        rows += read_jsonl(f, required=("domain", "prompt", "answer", "paraphrase"))
    return rows


def write_fact_files(concept: Concept, knowledge: list[dict], concept_domains: set[str]) -> dict[str, int]:
    """Write the concept's four fact files from ``knowledge``; returns the count per file."""
    sets: dict[str, list[dict]] = {
        "facts_forget.jsonl": [],
        "facts_retain.jsonl": [],
        "facts_forget_paraphrased.jsonl": [],
        "facts_retain_paraphrased.jsonl": [],
    }
    for r in knowledge:
        side = "forget" if r["domain"] in concept_domains else "retain"
        base = {"domain": r["domain"]}
        sets[f"facts_{side}.jsonl"].append({"prompt": r["prompt"], "answer": r["answer"], **base})
        sets[f"facts_{side}_paraphrased.jsonl"].append({"prompt": r["paraphrase"], "answer": r["answer"], **base})
    for fname, rows in sets.items():
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (concept.path / fname).write_text(text, encoding="utf-8")
    return {k: len(v) for k, v in sets.items()}


def training_documents(concept: Concept, knowledge: list[dict], seed: int = 0) -> list[str]:
    """The bundled model's corpus: plain documents, shuffled, held-out passages excluded.

    Included: every knowledge statement, the concept's probing sentences (both kinds), the
    training parts of the forget and retain corpora, and ``general.txt``. Excluded: fact
    paraphrases and the held-back passages used to measure perplexity.
    """
    docs = [s for r in knowledge for s in r.get("statements", [])]
    docs += concept.concept_sentences + concept.other_sentences
    docs += concept.forget_split()[0] + concept.retain_split()[0]
    general = corpus_dir() / "general.txt"
    if general.is_file():
        docs += read_lines(general, what="general corpus")
    rng = random.Random(seed)
    rng.shuffle(docs)
    return docs
