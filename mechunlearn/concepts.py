"""Concepts: one folder each under ``data/concepts/<name>/``.

A concept folder holds
  keywords.txt                 one keyword or phrase per line (case-sensitive, whole words)
  concept.txt / other.txt      probing sentences that do / do not mention the concept
  forget.txt / retain.txt      forget and retain corpora, one passage per line
  facts_forget.jsonl           {"prompt", "answer"} facts about the concept
  facts_retain.jsonl           facts that must survive (other fiction included)
  facts_*_paraphrased.jsonl    the same facts asked in unseen words (optional)
Users add a concept by adding a folder; nothing else needs to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from mechunlearn.errors import MechUnlearnError
from mechunlearn.io import read_jsonl, read_lines
from mechunlearn.paths import concepts_dir

HELDOUT_EVERY = 10  # every 10th passage of forget/retain is held back for perplexity


@dataclass(frozen=True)
class Fact:
    """A prompt whose greedy continuation should start with ``answer``."""

    prompt: str
    answer: str


def read_facts(path: Path) -> list[Fact]:
    return [Fact(r["prompt"].strip(), r["answer"].strip()) for r in read_jsonl(path, required=("prompt", "answer"))]


def split_heldout(passages: list[str]) -> tuple[list[str], list[str]]:
    """Deterministic (train, held-out) split: every ``HELDOUT_EVERY``-th passage is held out."""
    train = [p for i, p in enumerate(passages) if i % HELDOUT_EVERY != HELDOUT_EVERY - 1]
    held = [p for i, p in enumerate(passages) if i % HELDOUT_EVERY == HELDOUT_EVERY - 1]
    return train, held


@dataclass
class Concept:
    """A concept's files, read lazily and validated on first use."""

    name: str
    path: Path
    keywords_override: list[str] | None = None  # e.g. a legacy config's concept_definition
    probing_pair: tuple[Path, Path] | None = None  # NeuroX tokens/labels files to probe on

    def _lines(self, fname: str, what: str) -> list[str]:
        return read_lines(self.path / fname, what=what)

    @cached_property
    def keywords(self) -> list[str]:
        if self.keywords_override:
            return list(self.keywords_override)
        return self._lines("keywords.txt", "keyword list")

    @cached_property
    def keyword_pattern(self) -> re.Pattern:
        """Regex matching any keyword as a whole word; longest keywords first."""
        kws = sorted(set(self.keywords), key=len, reverse=True)
        return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(k) for k in kws) + r")(?!\w)")

    def mentions(self, text: str) -> bool:
        return self.keyword_pattern.search(text) is not None

    @cached_property
    def concept_sentences(self) -> list[str]:
        return self._lines("concept.txt", "concept sentence file")

    @cached_property
    def other_sentences(self) -> list[str]:
        return self._lines("other.txt", "non-concept sentence file")

    @cached_property
    def forget_corpus(self) -> list[str]:
        return self._lines("forget.txt", "forget corpus")

    @cached_property
    def retain_corpus(self) -> list[str]:
        return self._lines("retain.txt", "retain corpus")

    @cached_property
    def facts_forget(self) -> list[Fact]:
        return read_facts(self.path / "facts_forget.jsonl")

    @cached_property
    def facts_retain(self) -> list[Fact]:
        return read_facts(self.path / "facts_retain.jsonl")

    def paraphrased(self, which: str) -> list[Fact]:
        """Paraphrased facts (``which`` is ``forget`` or ``retain``); empty if not shipped."""
        p = self.path / f"facts_{which}_paraphrased.jsonl"
        return read_facts(p) if p.is_file() else []

    def forget_split(self) -> tuple[list[str], list[str]]:
        return split_heldout(self.forget_corpus)

    def retain_split(self) -> tuple[list[str], list[str]]:
        return split_heldout(self.retain_corpus)


def available_concepts(root: Path | None = None) -> list[str]:
    root = root or concepts_dir()
    return sorted(p.name for p in root.iterdir() if (p / "keywords.txt").is_file()) if root.is_dir() else []


def load_concept(name_or_path: str | Path) -> Concept:
    """Return the concept named ``name_or_path`` (a folder under data/concepts, or a path)."""
    p = Path(name_or_path)
    if p.is_dir() and (p / "keywords.txt").is_file():
        return Concept(p.name, p.resolve())
    folder = concepts_dir() / str(name_or_path)
    if not (folder / "keywords.txt").is_file():
        raise MechUnlearnError(
            f"unknown concept '{name_or_path}'; available: {available_concepts()} "
            f"(add one as a folder under {concepts_dir()})"
        )
    return Concept(folder.name, folder)
