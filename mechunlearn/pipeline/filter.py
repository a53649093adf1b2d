"""``filter``: drop the documents of a corpus that mention a concept (retrain-on-filtered-data's first step).

Formats: a ``.txt`` file (one document per line), a ``.jsonl`` file (the document in a text
field, ``text`` by default), or a local Hugging Face ``datasets`` folder (``save_to_disk``).
A document is dropped when one of the concept's keywords occurs as a whole word in its
normalised text (Unicode NFKC, accents removed, curly quotes straightened, whitespace
collapsed; ``ignore_case`` also folds case). With ``probe`` it is also dropped when the
concept's document classifier (:mod:`mechunlearn.ranking.classifier`, a NeuroX probe on a
model's pooled MLP activations) gives it P(concept) >= ``threshold``: that catches text
about the concept that names no keyword. The output is written to a temporary path and
renamed; ``OUTPUT.filter.json`` beside it holds the configuration and the counts (removed
by keyword, removed by the probe), ``OUTPUT.filter.log`` the log.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mechunlearn.concepts.folders import Concept, load_concept
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import write_json
from mechunlearn.core.runs import captured_log

log = logging.getLogger(__name__)
CHUNK = 256  # documents judged together (one batched pass of the classifier)
Judge = Callable[[Sequence[str]], list]  # texts -> "keyword" | "probe" | None per text

QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


def normalise(text: str) -> str:
    t = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).translate(QUOTES))
    t = "".join(ch for ch in t if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", t).strip()


@dataclass
class FilterConfig:
    concept: str
    input: str
    output: str
    field: str = "text"
    ignore_case: bool = False
    probe: bool = False
    model: str | None = None
    threshold: float = 0.5
    window: int = 64
    device: str | None = None
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.model is not None and not self.probe:
            raise MechUnlearnError(f"--model {self.model} is only read by the probe; add --probe or drop --model")
        if self.probe:
            self.classifier()  # checks the threshold and window before anything is loaded

    def classifier(self):
        """The concept probe's settings (:class:`mechunlearn.ranking.classifier.ClassifierConfig`)."""
        from mechunlearn.ranking.classifier import ClassifierConfig

        return ClassifierConfig(self.threshold, self.window)


def matcher(concept: Concept, ignore_case: bool):
    kws = sorted({normalise(k) for k in concept.keywords}, key=len, reverse=True)
    pat = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, kws)) + r")(?!\w)", re.IGNORECASE if ignore_case else 0)
    return lambda text: pat.search(normalise(text)) is not None


def _kind(path: Path) -> str:
    if path.is_dir():
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file():
            return "datasets"
        raise MechUnlearnError(f"{path} is a folder but not a Hugging Face datasets folder (no dataset_info.json)")
    if path.suffix in (".txt", ".jsonl"):
        return path.suffix[1:]
    raise MechUnlearnError(f"unsupported input '{path}'; valid: a .txt file, a .jsonl file or a datasets folder")


def judge(cfg: FilterConfig, concept: Concept) -> tuple[Judge, dict[str, Any]]:
    """The per-document verdict (``"keyword"``, ``"probe"`` or ``None`` to keep) and what the probe measured."""
    mentions = matcher(concept, cfg.ignore_case)
    if not cfg.probe:
        return (lambda texts: ["keyword" if mentions(t) else None for t in texts]), {}
    from mechunlearn.edits.stack import load_model_or_run
    from mechunlearn.ranking.classifier import ConceptClassifier

    model = load_model_or_run(cfg.model, device=cfg.device, dtype=cfg.dtype)
    clf = ConceptClassifier.train(model, concept, cfg.classifier())

    def verdicts(texts: Sequence[str]) -> list:
        by_keyword = [mentions(t) for t in texts]
        rest = [t for t, k in zip(texts, by_keyword, strict=True) if not k]  # the probe reads only these
        hits = iter(clf.is_concept(rest))
        return ["keyword" if k else ("probe" if next(hits) else None) for k in by_keyword]

    measured = {"probe_model": model.name, "probe_config": asdict(clf.cfg), "probe_metrics": clf.fitted.metrics}
    return verdicts, measured


def filter_corpus(cfg: FilterConfig, *, print_fn=print) -> dict[str, Any]:
    """Write ``cfg.output``: ``cfg.input`` without the documents that mention the concept; returns the counts."""
    src, dst = Path(cfg.input), Path(cfg.output)
    if not src.exists():
        raise MechUnlearnError(f"input not found: {src}")
    sidecars = [Path(f"{dst}.filter.json"), Path(f"{dst}.filter.log")]
    if dst.exists() or any(p.exists() for p in sidecars):
        raise MechUnlearnError(f"output already exists: {dst}; choose a new OUTPUT (outputs are never overwritten)")
    if dst.resolve() == src.resolve():
        raise MechUnlearnError("OUTPUT must differ from INPUT (the input is never overwritten)")
    kind = _kind(src)
    concept = load_concept(cfg.concept)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.partial-"))
    try:
        with captured_log(tmp / "filter.log"):
            log.info("configuration: %s", asdict(cfg))
            verdicts, measured = judge(cfg, concept)
            part = tmp / "out"
            n = {"txt": _txt, "jsonl": _jsonl, "datasets": _datasets}[kind](src, part, verdicts, cfg.field)
            removed = n["keyword"] + n["probe"]
            counts = {"documents": n["kept"] + removed, "kept": n["kept"], "removed": removed}
            counts |= {"removed_by_keyword": n["keyword"], "removed_by_probe": n["probe"]}
            record = asdict(cfg) | {"format": kind} | counts | measured
            log.info("counts: %s", counts)
        write_json(tmp / "filter.json", record)
        os.replace(part, dst)
        for name, final in zip(("filter.json", "filter.log"), sidecars, strict=True):
            os.replace(tmp / name, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    by = f" ({n['keyword']} by keyword, {n['probe']} by the probe)" if cfg.probe else ""
    total = counts["documents"]
    print_fn(f"{kind}: kept {n['kept']} of {total} documents, removed {removed}{by} about '{cfg.concept}'")
    print_fn(f"wrote {dst} (and {dst}.filter.json, {dst}.filter.log)")
    return record


def _lines(src: Path, dst: Path, verdicts: Judge, text_of) -> Counter:
    """Copy the non-empty lines of ``src`` whose document (``text_of(line, lineno)``) is kept."""
    n: Counter = Counter(kept=0, keyword=0, probe=0)
    with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as g:
        batch: list[tuple[str, str]] = []

        def flush() -> None:
            for (line, _), why in zip(batch, verdicts([t for _, t in batch]), strict=True):
                n[why or "kept"] += 1
                if why is None:
                    g.write(line if line.endswith("\n") else line + "\n")
            batch.clear()

        for lineno, line in enumerate(f, start=1):
            if line.strip():
                batch.append((line, text_of(line, lineno)))
            if len(batch) == CHUNK:
                flush()
        flush()
    return n


def _txt(src: Path, dst: Path, verdicts: Judge, field: str) -> Counter:
    return _lines(src, dst, verdicts, lambda line, lineno: line)


def _jsonl(src: Path, dst: Path, verdicts: Judge, field: str) -> Counter:
    def text_of(line: str, lineno: int) -> str:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise MechUnlearnError(f"{src}:{lineno}: malformed JSON ({e.msg})") from None
        if not isinstance(rec, dict) or not isinstance(rec.get(field), str):
            raise MechUnlearnError(f"{src}:{lineno}: no string field '{field}' (choose it with --field)")
        return rec[field]

    return _lines(src, dst, verdicts, text_of)


def _datasets(src: Path, dst: Path, verdicts: Judge, field: str) -> Counter:
    from datasets import DatasetDict, load_from_disk

    ds = load_from_disk(str(src))
    splits = ds if isinstance(ds, DatasetDict) else {"": ds}
    for name, part in splits.items():
        if field not in part.column_names:
            where = f" (split '{name}')" if name else ""
            raise MechUnlearnError(f"{src}{where} has no column '{field}'; columns: {part.column_names} (see --field)")
    n: Counter = Counter(kept=0, keyword=0, probe=0)
    out = {}
    for name, part in splits.items():
        keep = []
        for start in range(0, len(part), CHUNK):
            texts = part[start : start + CHUNK][field]
            for i, why in enumerate(verdicts(texts)):
                n[why or "kept"] += 1
                if why is None:
                    keep.append(start + i)
        out[name] = part.select(keep)
    (DatasetDict(out) if isinstance(ds, DatasetDict) else out[""]).save_to_disk(str(dst))
    return n
