"""``filter``: drop the documents of a corpus that mention a concept (retrain-on-filtered-data's first step).

Formats: a ``.txt`` file (one document per line), a ``.jsonl`` file (the document in a text
field, ``text`` by default), or a local Hugging Face ``datasets`` folder (``save_to_disk``).
A document is dropped when one of the concept's keywords occurs as a whole word in its
normalised text (Unicode NFKC, accents removed, curly quotes straightened, whitespace
collapsed; ``ignore_case`` also folds case). The output is written to a temporary path and
renamed; ``OUTPUT.filter.json`` beside it holds the configuration and the counts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mechunlearn.concepts import Concept, load_concept
from mechunlearn.errors import MechUnlearnError
from mechunlearn.io import write_json

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


def filter_corpus(cfg: FilterConfig, *, print_fn=print) -> dict[str, Any]:
    """Write ``cfg.output``: ``cfg.input`` without the documents that mention the concept; returns the counts."""
    src, dst = Path(cfg.input), Path(cfg.output)
    if not src.exists():
        raise MechUnlearnError(f"input not found: {src}")
    if dst.exists() or Path(str(dst) + ".filter.json").exists():
        raise MechUnlearnError(f"output already exists: {dst}; choose a new OUTPUT (outputs are never overwritten)")
    if dst.resolve() == src.resolve():
        raise MechUnlearnError("OUTPUT must differ from INPUT (the input is never overwritten)")
    kind = _kind(src)
    mentions = matcher(load_concept(cfg.concept), cfg.ignore_case)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.partial-"))
    try:
        part = tmp / "out"
        kept, removed = {"txt": _txt, "jsonl": _jsonl, "datasets": _datasets}[kind](src, part, mentions, cfg.field)
        counts = {"documents": kept + removed, "kept": kept, "removed": removed}
        record = asdict(cfg) | {"format": kind} | counts
        write_json(tmp / "filter.json", record)
        os.replace(part, dst)
        os.replace(tmp / "filter.json", Path(str(dst) + ".filter.json"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_fn(f"{kind}: kept {kept} of {kept + removed} documents, removed {removed} mentioning '{cfg.concept}'")
    print_fn(f"wrote {dst} (and {dst}.filter.json)")
    return record


def _lines(src: Path, dst: Path, mentions, text_of) -> tuple[int, int]:
    """Copy the non-empty lines of ``src`` whose document (``text_of(line, lineno)``) does not mention the concept."""
    kept = removed = 0
    with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as g:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            if mentions(text_of(line, lineno)):
                removed += 1
            else:
                kept += 1
                g.write(line if line.endswith("\n") else line + "\n")
    return kept, removed


def _txt(src: Path, dst: Path, mentions, field: str) -> tuple[int, int]:
    return _lines(src, dst, mentions, lambda line, lineno: line)


def _jsonl(src: Path, dst: Path, mentions, field: str) -> tuple[int, int]:
    def text_of(line: str, lineno: int) -> str:
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise MechUnlearnError(f"{src}:{lineno}: malformed JSON ({e.msg})") from None
        if not isinstance(rec, dict) or not isinstance(rec.get(field), str):
            raise MechUnlearnError(f"{src}:{lineno}: no string field '{field}' (choose it with --field)")
        return rec[field]

    return _lines(src, dst, mentions, text_of)


def _datasets(src: Path, dst: Path, mentions, field: str) -> tuple[int, int]:
    from datasets import DatasetDict, load_from_disk

    ds = load_from_disk(str(src))
    splits = ds if isinstance(ds, DatasetDict) else {"": ds}
    for name, part in splits.items():
        if field not in part.column_names:
            where = f" (split '{name}')" if name else ""
            raise MechUnlearnError(f"{src}{where} has no column '{field}'; columns: {part.column_names} (see --field)")
    total = sum(len(p) for p in splits.values())
    out = ds.filter(lambda r: not mentions(r[field]))
    out.save_to_disk(str(dst))
    kept = sum(len(p) for p in (out.values() if isinstance(out, DatasetDict) else [out]))
    return kept, total - kept
