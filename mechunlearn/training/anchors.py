"""Anchored terms (Who's Harry Potter, Eldan & Russinovich 2023): the concept's idiosyncratic names
replaced by generic ones, and the token alignment between a text and its translation.

``anchors.tsv`` in the concept folder: a ``term<TAB>generic`` header, then one pair per line
(``Hogwarts<TAB>the academy``). Terms are matched case-sensitively as whole words, longest first;
a generic that starts with an article the text already has before the term drops its own ("at the
Hogwarts gate" -> "at the academy gate", not "the the").

:func:`align` maps each token of the original text to the token of the translation that stands in
the same place, so that a model's prediction *on the translation* can label the original: a token
in unchanged text maps to the token starting at the same (shifted) character; the first token of a
replaced term maps to the first token of its generic; a token inside a term (its second word piece)
has no counterpart (``None``), nor has one where the two tokenizations cut the text differently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mechunlearn.core.errors import MechUnlearnError

ARTICLES = ("the ", "a ", "an ")


def read_anchors(concept) -> dict[str, str]:
    """The concept's ``anchors.tsv`` as ``{term: generic}``; one error naming a bad line."""
    path = Path(concept.path) / "anchors.tsv"
    if not path.is_file():
        raise MechUnlearnError(
            f"concept '{concept.name}' has no anchors.tsv in {concept.path}; write its anchored terms there "
            "(a 'term<TAB>generic' header, then one idiosyncratic name and its generic replacement per line)"
        )
    out: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip() or parts[0] in out:
            raise MechUnlearnError(f"{path}:{n}: expected a new 'term<TAB>generic' pair, got {line!r}")
        out[parts[0].strip()] = parts[1].strip()
    if not out:
        raise MechUnlearnError(f"{path} lists no anchored terms")
    return out


@dataclass(frozen=True)
class Replacement:
    """A term at ``[start, end)`` of the original, its generic at ``[new_start, new_end)`` of the translation."""

    start: int
    end: int
    new_start: int
    new_end: int


def translate(text: str, anchors: dict[str, str]) -> tuple[str, list[Replacement]]:
    """``text`` with every anchored term replaced by its generic, and where each replacement went."""
    if not anchors:
        return text, []
    pattern = re.compile(
        r"(?<!\w)(" + "|".join(re.escape(t) for t in sorted(anchors, key=len, reverse=True)) + r")(?!\w)"
    )
    out, reps, last, shift = [], [], 0, 0
    for m in pattern.finditer(text):
        generic = anchors[m.group(1)]
        before = text[: m.start()].lower()
        for art in ARTICLES:  # "the Hogwarts gate" -> "the academy gate"
            if generic.lower().startswith(art) and before.endswith(art):
                generic = generic[len(art) :]
                break
        out.append(text[last : m.start()])
        new_start = m.start() + shift
        out.append(generic)
        reps.append(Replacement(m.start(), m.end(), new_start, new_start + len(generic)))
        shift += len(generic) - (m.end() - m.start())
        last = m.end()
    out.append(text[last:])
    return "".join(out), reps


def align(
    original: list[tuple[int, int]], translated: list[tuple[int, int]], reps: list[Replacement]
) -> list[int | None]:
    """For each original token (its character span), the index of the translated token in its place, or ``None``."""
    starts = {s: j for j, (s, _) in enumerate(translated)}
    out: list[int | None] = []
    for s, _ in original:
        shift, target = 0, None
        for r in reps:
            if s >= r.end:
                shift += (r.new_end - r.new_start) - (r.end - r.start)
            elif s == r.start:
                target = starts.get(r.new_start)
                break
            elif s > r.start:  # inside a term: no counterpart
                target = -1
                break
            else:
                break
        if target is None:
            target = starts.get(s + shift)
        out.append(None if target is None or target < 0 else target)
    return out
