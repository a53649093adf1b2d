"""``familiarity``: does the model still continue stories about the concept as someone who knows it?

The completion test of Who's Harry Potter (Eldan & Russinovich 2023, arXiv 2310.02238), scored
without their GPT-4 grader: the model greedily continues short story openings (``max_new_tokens``
tokens); a continuation is *familiar* when it names a term of its opening's domain (a character,
place, object, spell, ...) that the opening does not already contain, matched case-insensitively
on whole words. Concept openings test the forget side; control openings from other fiction and
general knowledge, scored against their own domain's terms, test that the model still completes
what it should know.

Data, in the concept folder: ``familiarity/openings.jsonl`` (``{"side": "concept" | "control",
"domain", "opening"}`` per line) and ``familiarity/terms.json`` (``{domain: [terms]}``). Metrics:
``familiarity.concept`` and ``familiarity.control`` (familiar share), ``familiarity.{side}.n``; the
continuations and the terms they named are kept in ``checks/familiarity-{stage}.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import read_jsonl
from mechunlearn.evaluation.checks.base import Check, register_check
from mechunlearn.evaluation.scoring import greedy_complete

SIDES = ("concept", "control")


@dataclass
class FamiliarityConfig:
    """Args:
    max_new_tokens: length of each greedy continuation (Who's Harry Potter's completions are about this long).
    batch_size: openings per generation batch.
    """

    max_new_tokens: int = 24
    batch_size: int = 16


def _folder(concept) -> Path:
    return Path(concept.path) / "familiarity"


def load_openings(concept) -> tuple[list[dict], dict[str, list[str]]]:
    """The concept's openings and its terms by domain, checked: one error naming the bad record."""
    folder = _folder(concept)
    terms_raw = json.loads((folder / "terms.json").read_text(encoding="utf-8"))
    if not isinstance(terms_raw, dict) or not all(
        isinstance(v, list) and all(isinstance(t, str) and t.strip() for t in v) for v in terms_raw.values()
    ):
        raise MechUnlearnError(f"{folder / 'terms.json'} must map each domain to a list of terms")
    openings = list(read_jsonl(folder / "openings.jsonl", required=("side", "domain", "opening")))
    for n, o in enumerate(openings, start=1):
        if o["side"] not in SIDES or o["domain"] not in terms_raw:
            raise MechUnlearnError(
                f"{folder / 'openings.jsonl'}: record {n}: side must be one of {list(SIDES)} and domain one of "
                f"{sorted(terms_raw)} (the domains of terms.json), got side {o['side']!r}, domain {o['domain']!r}"
            )
    return openings, terms_raw


def named_terms(text: str, terms: list[str], opening: str) -> list[str]:
    """The ``terms`` named in ``text`` (whole words, any case) that ``opening`` does not already name."""

    def has(t: str, s: str) -> bool:
        return re.search(rf"(?<!\w){re.escape(t)}(?!\w)", s, flags=re.IGNORECASE) is not None

    return [t for t in terms if has(t, text) and not has(t, opening)]


@register_check("familiarity", FamiliarityConfig)
class Familiarity(Check):
    def missing(self, concept, ctx):
        folder = _folder(concept)
        if not (folder / "openings.jsonl").is_file() or not (folder / "terms.json").is_file():
            return f"it needs {folder}/openings.jsonl and terms.json (story openings and the terms of each domain)"
        return None

    def run(self, model, ctx):
        openings, terms = load_openings(ctx.concept)
        texts = [o["opening"] for o in openings]
        conts = greedy_complete(model, texts, self.cfg.max_new_tokens, self.cfg.batch_size)
        seen = []
        for o, c in zip(openings, conts, strict=True):
            seen.append(o | {"continuation": c, "named": named_terms(c, terms[o["domain"]], o["opening"])})
        ctx.write("familiarity", seen)
        out = {}
        for side in SIDES:
            rows = [s for s in seen if s["side"] == side]
            out[f"familiarity.{side}.n"] = float(len(rows))
            if rows:
                out[f"familiarity.{side}"] = sum(bool(s["named"]) for s in rows) / len(rows)
        return out
