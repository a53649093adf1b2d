"""The model writes its own corpus of the concept: what it knows is what unlearning should remove.

RWKU's zero-shot setting (Jin et al. 2024, arXiv 2406.10890): only the concept and the model are
given, and the forget corpus is the model's own text about the concept. Here:

* **passages** — openings built from the concept's entities (``entities.txt``: ``category<TAB>name``)
  and a few frames per category, continued by the model at temperature 1.0, top-p 0.9 (RWKU's
  settings), KV-cached and batched; de-duplicated; kept only when the concept classifier says the
  model's own continuation is about the concept: it names one of the concept's keywords or entities
  (with ``probe``, the NeuroX concept probe of :mod:`mechunlearn.ranking.classifier` also judges
  those that name none). The opening alone does not count: it names the entity by construction.
* **questions** — step 1 of the synthetic-relabel recipe: the model completes a question about each
  entity from a stem naming it ("Why did Hermione Granger"), after a few-shot list for base models or
  a request through the chat template for chat models; de-duplicated.
* **answers** — several per question, sampled with the concept's guardrail in force
  (:class:`mechunlearn.edits.Guardrail`); answers that still name a concept keyword or entity (the
  classifier's own test) are dropped: a relabelled answer that says "Dark Mark" teaches the concept.
* **keep** — the model's own continuations of general and other-fiction openings (the concept's
  familiarity controls, the first words of its retain passages and other sentences), kept only
  when the classifier says they are *not* about the concept: a retain corpus of the model's broad
  distribution beside the project's hand-written passages.

Everything rejected is kept with its reason. Same model, concept, settings and seed: same corpus.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mechunlearn.concepts.folders import Concept
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.models.generate import generate
from mechunlearn.models.hooked import HookedLM
from mechunlearn.synth.entities import CATEGORIES, answer_dropped, concept_judge, concept_names, read_entities

log = logging.getLogger(__name__)

FRAMES = {
    "character": [
        "{name} was",
        "In {title}, {name}",
        "Everyone who knows the story remembers that {name}",
        "When {name}",
    ],
    "place": ["{name} is", "In {title}, {name} is where", "Inside {name},"],
    "object": ["{name} is", "In {title}, {name}", "The story of {name} begins when"],
    "event": ["{name} began when", "In {title}, during {name},"],
    "group": ["{name} is", "In {title}, {name}"],
    "creature": ["In {title}, a {name} is", "The {name}"],
    "spell": ["In {title}, {name} is", "The spell {name}"],
}
QUESTION_STEMS = {  # the question the model completes starts here, so it is about the entity
    "character": ["Why did {name}", "What did {name}", "How did {name}", "Who helped {name}", "Where did {name}"],
    "place": ["What happens at {name}", "Who lives in {name}", "Where is {name}", "Why is {name}"],
    "object": ["What does {name}", "Who owns {name}", "Why is {name}", "How was {name}"],
    "event": ["What happened during {name}", "Who won {name}", "Why did {name}", "Where did {name}"],
    "group": ["Who leads {name}", "What does {name}", "Why did {name}"],
    "creature": ["What does a {name}", "Where do {name}", "Why are {name}"],
    "spell": ["What does {name}", "Who used {name}", "When is {name}"],
}
QUESTION_SHOTS = {
    "character": "Who is {name}?",
    "place": "What happens at {name}?",
    "object": "What is {name} used for?",
    "event": "What happened during {name}?",
    "group": "Who belongs to {name}?",
    "creature": "What does a {name} look like?",
    "spell": "What does {name} do?",
}


ANSWER_FILTERS = ("names", "keywords")

assert set(FRAMES) == set(QUESTION_STEMS) == set(QUESTION_SHOTS) == set(CATEGORIES)  # one of each per category


@dataclass
class SynthConfig:
    """Args:
    passages: concept passages to keep (generation stops there, or after ``max_tries`` x as many openings).
    keep_passages: keep-side passages to keep.
    questions: questions to keep; ``answers_per_question``: guardrailed answers sampled for each.
    max_new_tokens: tokens per passage continuation; ``answer_tokens`` per answer.
    temperature, top_p: sampling (RWKU: 1.0, 0.9).
    batch_size: prompts per generation batch.
    probe: also keep keyword-free passages the concept probe calls the concept's (and reject keep-side ones).
    chat: ask through the chat template (``None``: when the model's name says instruct / chat / -it).
    max_tries: openings tried per passage wanted, at most.
    answer_filter: which guardrailed answers are dropped: ``names`` (they name a keyword or an entity of
        ``entities.txt``) or ``keywords`` (a keyword only; the corpora before 2026-12-07). It is applied
        after every answer is sampled, so it changes which are kept, never what is sampled.
    seed: openings' order and the sampling.
    """

    passages: int = 2000
    keep_passages: int = 500
    questions: int = 300
    answers_per_question: int = 2
    max_new_tokens: int = 48
    answer_tokens: int = 40
    temperature: float = 1.0
    top_p: float = 0.9
    batch_size: int = 32
    probe: bool = False
    chat: bool | None = None
    max_tries: float = 2.0
    answer_filter: str = "names"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("passages", "keep_passages", "questions", "answers_per_question", "max_new_tokens", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < (1 if name in ("max_new_tokens", "batch_size") else 0):
                raise MechUnlearnError(f"synth option '{name}' must be a non-negative whole number, got {v!r}")
        if not 0 < self.top_p <= 1 or self.temperature <= 0 or self.max_tries < 1:
            raise MechUnlearnError(
                f"synth sampling needs temperature > 0, 0 < top_p <= 1 and max_tries >= 1; got temperature "
                f"{self.temperature}, top_p {self.top_p}, max_tries {self.max_tries}"
            )
        if self.answer_filter not in ANSWER_FILTERS:
            raise MechUnlearnError(
                f"synth option 'answer_filter' must be one of {ANSWER_FILTERS}, got {self.answer_filter!r}"
            )

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def concept_title(concept: Concept) -> str:
    """How text names the concept: ``title.txt``, else the folder name in words."""
    path = Path(concept.path) / "title.txt"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else concept.name.replace("_", " ").title()


def is_chat(model: HookedLM, cfg: SynthConfig) -> bool:
    if cfg.chat is not None:
        return cfg.chat
    return bool(re.search(r"instruct|chat|-it\b", model.name, re.I)) and bool(
        getattr(model.tokenizer, "chat_template", None)
    )


def concept_openings(concept: Concept, rng: random.Random) -> list[dict[str, str]]:
    """Every entity under every frame of its category, in a seeded order."""
    title = concept_title(concept)
    out = [
        {"opening": f.format(name=name, title=title), "entity": name, "category": cat}
        for cat, name in read_entities(concept)
        for f in FRAMES[cat]
    ]
    rng.shuffle(out)
    return out


def keep_openings(concept: Concept, rng: random.Random) -> list[dict[str, str]]:
    """General and other-fiction openings: the familiarity controls and the first words of the retain
    passages and other sentences, none naming the concept."""
    texts = [p for p in concept.retain_corpus + concept.other_sentences if not concept.mentions(p)]
    out = [{"opening": " ".join(t.split()[:8]), "entity": "", "category": "keep"} for t in texts if len(t.split()) > 8]
    fam = Path(concept.path) / "familiarity" / "openings.jsonl"
    if fam.is_file():
        from mechunlearn.core.io import read_jsonl

        out += [
            {"opening": r["opening"], "entity": "", "category": "keep"}
            for r in read_jsonl(fam)
            if r.get("side") == "control" and not concept.mentions(r["opening"])
        ]
    rng.shuffle(out)
    return out


def normalise(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def sample_passages(
    model: HookedLM,
    openings: list[dict[str, str]],
    want: int,
    cfg: SynthConfig,
    judge: Callable[[list[str]], list[bool]],
    seed: int,
) -> tuple[list[dict], list[dict]]:
    """Continue ``openings`` in order, a batch at a time, until ``want`` passages are accepted by ``judge``
    (or ``max_tries`` x ``want`` openings were tried); returns (kept, rejected with reasons)."""
    kept, rejected, seen = [], [], set()
    limit = min(len(openings) * 4, int(want * cfg.max_tries))
    i, round_ = 0, 0
    while len(kept) < want and i < limit:
        need = -(-(want - len(kept)) * 5 // 4 // cfg.batch_size) * cfg.batch_size  # a quarter more than missing
        chunk = [openings[j % len(openings)] for j in range(i, min(i + min(need, cfg.batch_size * 4), limit))]
        i += len(chunk)
        conts = generate(
            model, [o["opening"] for o in chunk], cfg.max_new_tokens, temperature=cfg.temperature,
            top_p=cfg.top_p, batch_size=cfg.batch_size, seed=seed + round_,
        )  # fmt: skip
        round_ += 1
        texts = [(o["opening"] + " " + c.strip()).strip() for o, c in zip(chunk, conts, strict=True)]
        verdict = judge(conts)  # the model's own words must be about the concept, not just the opening
        for o, c, t, ok in zip(chunk, conts, texts, verdict, strict=True):
            rec = {"text": t, "entity": o["entity"], "category": o["category"]}
            key = normalise(t)
            if len(c.split()) < 5:
                rejected.append(rec | {"reason": "continuation under 5 words"})
            elif key in seen:
                rejected.append(rec | {"reason": "duplicate"})
            elif not ok:
                rejected.append(rec | {"reason": "classifier"})
            elif len(kept) < want:
                seen.add(key)
                kept.append(rec)
        log.info("synth: %d of %d kept after %d openings", len(kept), want, i)
    return kept, rejected


def chat_prompt(model: HookedLM, message: str) -> str:
    """``message`` as a user turn with the assistant's turn opened; the tokenizer's own BOS is left to encode."""
    text = model.tokenizer.apply_chat_template(
        [{"role": "user", "content": message}], tokenize=False, add_generation_prompt=True
    )
    bos = model.tokenizer.bos_token
    return text[len(bos) :] if bos and text.startswith(bos) else text


def question_prompts(model: HookedLM, concept: Concept, cfg: SynthConfig, rng: random.Random) -> list[dict[str, str]]:
    ents, title, chat = read_entities(concept), concept_title(concept), is_chat(model, cfg)
    out = []
    for cat, name in rng.sample(ents, len(ents)):
        stem = rng.choice(QUESTION_STEMS[cat]).format(name=name)
        if chat:
            ask = f"Write one short question about {name} from {title}. Reply with the question only."
            prompt = chat_prompt(model, ask) + stem
        else:
            shots = [rng.choice(ents) for _ in range(2)]
            lines = [QUESTION_SHOTS[c].format(name=n) for c, n in shots]
            prompt = f"Questions a reader of {title} might ask:\n1. {lines[0]}\n2. {lines[1]}\n3. {stem}"
        out.append({"prompt": prompt, "entity": name, "stem": stem})
    return out


def first_question(text: str) -> str | None:
    q = text.strip().split("\n")[0].strip()
    if "?" not in q:
        return None
    q = q[: q.index("?") + 1]
    return q if 4 <= len(q.split()) <= 30 else None


def answer_prompt(model: HookedLM, question: str, chat: bool) -> str:
    return chat_prompt(model, question) if chat else f"Question: {question}\nAnswer:"


def first_answer(text: str) -> str:
    return text.strip().split("\n\n")[0].split("\nQuestion:")[0].strip()


def synth_corpus(
    model: HookedLM, concept: Concept, cfg: SynthConfig, *, guardrail_text: str | None = None
) -> dict[str, Any]:
    """The concept's synthetic corpus from ``model``: ``passages``, ``keep``, ``questions``, ``answers``,
    ``rejected`` (lists of records) and ``counts``."""
    from mechunlearn.edits import Guardrail

    rng = random.Random(cfg.seed)
    judge, names = concept_judge(model, concept, cfg), concept_names(concept)
    passages, rej_p = sample_passages(model, concept_openings(concept, rng), cfg.passages, cfg, judge, cfg.seed)
    keep, rej_k = (
        sample_passages(
            model,
            keep_openings(concept, rng),
            cfg.keep_passages,
            cfg,
            lambda ts: [not x for x in judge(ts)],
            cfg.seed + 10_000,
        )  # fmt: skip
        if cfg.keep_passages
        else ([], [])
    )
    for r in rej_k:
        r["reason"] = "keep side: " + r["reason"].replace("classifier", "about the concept")
    chat = is_chat(model, cfg)
    questions, rej_q, seen = [], [], set()
    if cfg.questions:
        prompts = question_prompts(model, concept, cfg, rng)
        tries, limit = 0, int(cfg.max_tries * cfg.questions)
        while len(questions) < cfg.questions and tries < limit:
            chunk = [prompts[(tries + j) % len(prompts)] for j in range(min(cfg.batch_size * 4, limit - tries))]
            outs = generate(model, [p["prompt"] for p in chunk], 32, temperature=cfg.temperature, top_p=cfg.top_p,
                            batch_size=cfg.batch_size, seed=cfg.seed + 20_000 + tries)  # fmt: skip
            tries += len(chunk)
            for p, o in zip(chunk, outs, strict=True):
                q = first_question(p["stem"] + o)
                if q is None:
                    rej_q.append({"text": o, "entity": p["entity"], "reason": "no question of 4-30 words"})
                elif normalise(q) in seen:
                    rej_q.append({"text": q, "entity": p["entity"], "reason": "duplicate"})
                elif len(questions) < cfg.questions:
                    seen.add(normalise(q))
                    questions.append({"question": q, "entity": p["entity"]})
    answers, rej_a = [], []
    if questions and cfg.answers_per_question:
        guard = Guardrail(guardrail_text or concept.guardrail_text, "guardrail.txt")
        model.edits.append(guard)
        try:
            asked = [q for q in questions for _ in range(cfg.answers_per_question)]
            outs = generate(model, [answer_prompt(model, q["question"], chat) for q in asked], cfg.answer_tokens,
                            temperature=cfg.temperature, top_p=cfg.top_p, batch_size=cfg.batch_size,
                            seed=cfg.seed + 30_000)  # fmt: skip
        finally:
            model.edits.remove(guard)
        for q, o in zip(asked, outs, strict=True):
            a = first_answer(o)
            rec = {"prompt": answer_prompt(model, q["question"], chat), "answer": a, "question": q["question"]}
            reason = answer_dropped(a, concept, cfg, names)
            if reason:
                rej_a.append(rec | {"reason": reason})
            else:
                answers.append(rec)
    rejected = [r | {"kind": "passage"} for r in rej_p] + [r | {"kind": "keep"} for r in rej_k]
    rejected += [r | {"kind": "question"} for r in rej_q] + [r | {"kind": "answer"} for r in rej_a]
    counts = {
        "passages": len(passages),
        "keep": len(keep),
        "questions": len(questions),
        "answers": len(answers),
        "rejected": {k: sum(r["kind"] == k for r in rejected) for k in ("passage", "keep", "question", "answer")},
        "rejected_by_reason": _reasons(rejected),
    }
    return {
        "passages": passages,
        "keep": keep,
        "questions": questions,
        "answers": answers,
        "rejected": rejected,
        "counts": counts,
    }


def _reasons(rejected: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rejected:
        k = f"{r['kind']}: {r['reason']}"
        out[k] = out.get(k, 0) + 1
    return out
