"""Concepts: one folder each under ``data/concepts/<name>/``.

A concept folder holds
  keywords.txt                 one keyword or phrase per line (case-sensitive, whole words)
  concept.txt / other.txt      probing sentences that do / do not mention the concept
  forget.txt / retain.txt      forget and retain corpora, one passage per line
  facts_forget[_SET].jsonl     {"prompt", "answer"[, "choices"]} facts about the concept
  facts_retain[_SET].jsonl     facts that must survive (other fiction included)
  guardrail.txt                the ``guardrail`` edit's prompt (optional)
A concept can hold several fact sets: ``facts_forget.jsonl`` / ``facts_retain.jsonl`` are the
set ``corpus`` (phrased as in the bundled model's corpus), ``facts_forget_natural.jsonl`` the
set ``natural``, ``facts_forget_natural_paraphrased.jsonl`` the set ``natural_paraphrased``.
``choices`` (4 options, the answer among them) makes a fact a multiple-choice item too.
Users add a concept by adding a folder; nothing else needs to change.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import read_jsonl, read_lines
from mechunlearn.core.paths import concepts_dir

HELDOUT_EVERY = 10  # every 10th passage of forget/retain is held back for perplexity


FACT_SPLITS = ("train", "validation", "test")


def fact_split(index: int) -> str:
    """Deterministic split of a fact set by position: 2 of 5 train, 1 validation, 2 test.

    Rankings and training read ``train``; budgets and tuning read ``validation``; reports
    give ``test`` (and every split, for reference).
    """
    return ("train", "train", "validation", "test", "test")[index % 5]


@dataclass(frozen=True)
class Fact:
    """A prompt whose greedy continuation should start with ``answer``; optionally a multiple-choice item."""

    prompt: str
    answer: str
    choices: tuple[str, ...] = ()
    domain: str = ""  # what the fact is about (``harry_potter``, ``world``, ...), as its file says

    @property
    def right(self) -> int:
        """Index of the answer among ``choices``."""
        return self.choices.index(self.answer)


def read_facts(path: Path) -> list[Fact]:
    facts = []
    for lineno, r in enumerate(read_jsonl(path, required=("prompt", "answer")), start=1):
        choices = r.get("choices") or ()
        answer = r["answer"].strip()
        if choices:
            ok = isinstance(choices, list) and all(isinstance(c, str) and c.strip() for c in choices)
            if not ok or answer not in [c.strip() for c in choices] or len(set(choices)) != len(choices):
                raise MechUnlearnError(
                    f"{path}: record {lineno}: 'choices' must be a list of distinct non-empty strings "
                    f"that includes the answer '{answer}', got {choices!r}"
                )
        domain = r.get("domain") if isinstance(r.get("domain"), str) else ""
        facts.append(Fact(r["prompt"].strip(), answer, tuple(c.strip() for c in choices), domain))
    return facts


@dataclass(frozen=True)
class FactSet:
    """One fact set of a concept: forget facts and retain facts asked the same way."""

    name: str
    forget: list[Fact]
    retain: list[Fact]

    def side(self, which: str) -> list[Fact]:
        return self.forget if which == "forget" else self.retain

    def split(self, which: str, split: str) -> list[Fact]:
        """The ``split`` (train / validation / test) of one side's facts."""
        return [f for i, f in enumerate(self.side(which)) if fact_split(i) == split]

    @property
    def has_choices(self) -> bool:
        return all(f.choices for f in self.forget + self.retain)


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
    known: dict | None = None  # set -> side -> indices the model to edit knows; rankings read only those

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
    def guardrail_text(self) -> str:
        """``guardrail.txt``: the prompt of the ``guardrail`` edit (the whole file, stripped)."""
        path = self.path / "guardrail.txt"
        if not path.is_file():
            raise MechUnlearnError(
                f"concept '{self.name}' has no guardrail.txt in {self.path}; write the guardrail prompt there "
                "(a sentence or two telling the model not to know the concept) or pass --text"
            )
        text = path.read_text(encoding="utf-8").strip()
        if not text:
            raise MechUnlearnError(f"{path} is empty; write the guardrail prompt there or pass --text")
        return text

    def _facts(self, fname: str) -> list[Fact]:
        """The facts of one file, read once (every fact set and property shares the reading)."""
        cache = self.__dict__.setdefault("_fact_files", {})
        if fname not in cache:
            cache[fname] = read_facts(self.path / fname)
        return cache[fname]

    @property
    def facts_forget(self) -> list[Fact]:
        """The ``corpus`` set's forget facts (``facts_forget.jsonl``)."""
        return self._facts("facts_forget.jsonl")

    @property
    def facts_retain(self) -> list[Fact]:
        """The ``corpus`` set's retain facts (``facts_retain.jsonl``)."""
        return self._facts("facts_retain.jsonl")

    def paraphrased(self, which: str) -> list[Fact]:
        """The ``corpus_paraphrased`` set's facts (``which`` is ``forget`` or ``retain``); empty if not shipped."""
        fs = self.fact_sets.get("corpus_paraphrased")
        return fs.side(which) if fs else []

    @cached_property
    def fact_sets(self) -> dict[str, FactSet]:
        """Every fact set of the concept by name (``corpus``, ``corpus_paraphrased``, ``natural``, ...).

        A set needs both ``facts_forget[_SET].jsonl`` and ``facts_retain[_SET].jsonl``.
        """
        sets = {}
        for fp in sorted(self.path.glob("facts_forget*.jsonl")):
            suffix = fp.stem.removeprefix("facts_forget").lstrip("_")
            forget = self._facts(fp.name)  # a malformed file is named with its line first
            rp = self.path / fp.name.replace("facts_forget", "facts_retain", 1)
            if not rp.is_file():
                raise MechUnlearnError(f"fact set file {fp} has no retain counterpart {rp.name}")
            name = (
                suffix
                if suffix and not suffix.startswith("paraphrased")
                else "corpus" + (f"_{suffix}" if suffix else "")
            )
            sets[name] = FactSet(name, forget, self._facts(rp.name))
        if "corpus" not in sets:
            raise MechUnlearnError(
                f"concept folder {self.path} has no facts_forget.jsonl / facts_retain.jsonl (the 'corpus' fact set)"
            )
        return sets

    def forget_split(self) -> tuple[list[str], list[str]]:
        return split_heldout(self.forget_corpus)

    def retain_split(self) -> tuple[list[str], list[str]]:
        return split_heldout(self.retain_corpus)

    def held_texts(self, side: str, split: str = "test") -> list[str]:
        """Held-back passages of the ``side`` corpus: alternate ones are ``validation`` and ``test``."""
        held = (self.forget_split() if side == "forget" else self.retain_split())[1]
        return held[1::2] if split == "validation" else held[0::2]

    def facts(self, side: str, split: str, known: dict | None = None, *, paraphrased: bool = True) -> list[Fact]:
        """The ``side`` facts of ``split`` over every fact set (the one selector of a split's facts).

        ``known`` maps set -> side -> indices of facts the base model knows (see ``report.EvalSets``);
        given, only those are kept. ``paraphrased=False`` leaves out the paraphrased sets.
        """
        out = []
        for name, fs in self.fact_sets.items():
            if not paraphrased and "paraphrased" in name:
                continue
            keep = None if known is None else set(known.get(name, {}).get(side, []))
            out += [f for i, f in enumerate(fs.side(side)) if fact_split(i) == split and (keep is None or i in keep)]
        return out

    def training_facts(self, side: str, known: dict | None = None) -> list[Fact]:
        """Train-split facts of every set that is not a paraphrase, only the ``known`` ones if given.

        If the model knows none of them, all train-split facts are returned (and a warning logged).
        """
        out = self.facts(side, "train", known, paraphrased=False)
        if not out and known is not None:
            logging.getLogger(__name__).warning("the model knows none of the %s training facts; using all", side)
            return self.training_facts(side)
        return out


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
