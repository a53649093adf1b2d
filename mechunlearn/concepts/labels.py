"""Token-level concept labels: which tokens of a text belong to the concept.

Keywords are matched in the text (whole words, case-sensitive) and every token of the
model's own tokenizer that overlaps a match is labelled ``1`` (so a keyword split into
several subword tokens labels all of them); other tokens are ``0``; BOS is ``-1`` (ignored).
NeuroX-style ``tokens``/``labels`` file pairs (one sentence per line, ``target``/``N/A``
per space-separated word) are imported the same way.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import read_lines
from mechunlearn.models.tokens import special_prefix

log = logging.getLogger(__name__)

IGNORE, OTHER, CONCEPT = -1, 0, 1
NEUROX_TARGET, NEUROX_OTHER = "target", "N/A"


@dataclass
class LabelledText:
    """A token sequence (BOS first) and one label per token."""

    ids: list[int]
    labels: list[int]


def token_labels(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[int]:
    """``CONCEPT`` for each token (character ``offsets``) that overlaps one of the matched character ``spans``."""
    out = []
    for a, b in offsets:
        hit = any(a < e and s < b for s, e in spans) if b > a else False
        out.append(CONCEPT if hit else OTHER)
    return out


def label_text(text: str, pattern: re.Pattern, tokenizer, max_len: int) -> list[LabelledText]:
    """Tokenize ``text`` and label each token; text longer than ``max_len`` is chunked."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    spans = [m.span() for m in pattern.finditer(text)]
    labels = token_labels(enc["offset_mapping"], spans)
    return _with_bos(list(enc["input_ids"]), labels, tokenizer, max_len)


def _with_bos(ids: list[int], labels: list[int], tokenizer, max_len: int) -> list[LabelledText]:
    prefix = special_prefix(tokenizer)
    body = max_len - len(prefix)
    if len(ids) > body:
        log.warning("text of %d tokens is longer than the context (%d); split into chunks", len(ids), max_len)
    chunks = []
    for i in range(0, max(len(ids), 1), body):
        cid, clab = ids[i : i + body], labels[i : i + body]
        if prefix:
            cid, clab = prefix + cid, [IGNORE] * len(prefix) + clab
        chunks.append(LabelledText(cid, clab))
    return chunks


def label_texts(texts: Sequence[str], pattern: re.Pattern, tokenizer, max_len: int) -> list[LabelledText]:
    return [c for t in texts for c in label_text(t, pattern, tokenizer, max_len)]


def read_neurox_pair(tokens_path: str | Path, labels_path: str | Path) -> list[tuple[list[str], list[bool]]]:
    """Read a NeuroX tokens/labels file pair into (words, is_target) per sentence.

    Errors name the file and line where the two files disagree.
    """
    toks = read_lines(tokens_path, what="NeuroX tokens file")
    labs = read_lines(labels_path, what="NeuroX labels file")
    if len(toks) != len(labs):
        raise MechUnlearnError(
            f"{tokens_path} has {len(toks)} sentences but {labels_path} has {len(labs)}; they must match line by line"
        )
    out = []
    for n, (t, lab) in enumerate(zip(toks, labs, strict=True), start=1):
        words, tags = t.split(), lab.split()
        if len(words) != len(tags):
            raise MechUnlearnError(
                f"{labels_path}:{n}: {len(tags)} labels for {len(words)} tokens in {tokens_path}:{n}"
            )
        bad = sorted({g for g in tags if g not in (NEUROX_TARGET, NEUROX_OTHER)})
        if bad:
            raise MechUnlearnError(
                f"{labels_path}:{n}: unknown label(s) {bad}; valid: '{NEUROX_TARGET}', '{NEUROX_OTHER}'"
            )
        out.append((words, [g == NEUROX_TARGET for g in tags]))
    return out


def label_neurox_pair(tokens_path, labels_path, tokenizer, max_len: int) -> list[LabelledText]:
    """Labelled token sequences from a NeuroX pair: every subword of a target word is labelled."""
    result = []
    for words, targets in read_neurox_pair(tokens_path, labels_path):
        text, spans, pos = "", [], 0
        for i, (w, is_t) in enumerate(zip(words, targets, strict=True)):
            if i:
                text += " "
                pos += 1
            if is_t:
                spans.append((pos, pos + len(w)))
            text += w
            pos += len(w)
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        labels = token_labels(enc["offset_mapping"], spans)
        result += _with_bos(list(enc["input_ids"]), labels, tokenizer, max_len)
    return result


def write_neurox_pair(sentences: Sequence[str], pattern: re.Pattern, tokens_path: Path, labels_path: Path) -> None:
    """Write sentences as a NeuroX tokens/labels pair (a word is ``target`` if it is in a keyword)."""
    tok_lines, lab_lines = [], []
    for s in sentences:
        spans = [m.span() for m in pattern.finditer(s)]
        words, tags = [], []
        for m in re.finditer(r"\S+", s):
            words.append(m.group())
            tags.append(NEUROX_TARGET if any(m.start() < e and a < m.end() for a, e in spans) else NEUROX_OTHER)
        tok_lines.append(" ".join(words))
        lab_lines.append(" ".join(tags))
    tokens_path.write_text("\n".join(tok_lines) + "\n", encoding="utf-8")
    labels_path.write_text("\n".join(lab_lines) + "\n", encoding="utf-8")
