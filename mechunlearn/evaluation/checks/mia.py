"""``mia``: membership inference on the forget text — can its loss still tell what was trained on?

Four attacks score each passage (higher: more likely a member): LOSS (Yeom et al. 2018: minus
the mean token NLL), zlib (Carlini et al. 2021: minus the summed NLL over the zlib-compressed
length of the text), Min-K% (Shi et al. 2024: the mean of the lowest ``k`` share of token
log-probabilities) and Min-K%++ (Zhang et al. 2024: the same over each token's log-probability
standardised by the mean and spread of log-probabilities under the model's own next-token
distribution). Members are the concept passages unlearning trains on (the forget corpus'
training part, or what the run says it trained on); non-members the concept's held-back
passages (every tenth; no command trains on them). The AUC of telling them apart: 0.5 is no
trace, above 0.5 the trained text is still recognisable, below 0.5 training left the opposite
trace (its loss is now *higher* than unseen text's, itself a tell).

Metrics: ``mia.{loss|zlib|min_k|min_k_pp}.auc`` and ``.change``, the relative change against
the first measured stage: open-unlearning's privleak, ``(AUC - AUC_ref) / AUC_ref``, with the
model before unlearning as the reference instead of a model never trained on the forget text.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

import torch

from mechunlearn.evaluation.checks.base import Check, register_check

ATTACKS = ("loss", "zlib", "min_k", "min_k_pp")


@dataclass
class MIAConfig:
    """Args:
    k: the share of lowest-scoring tokens Min-K% and Min-K%++ average (20%, as both papers' default).
    max_tokens: each passage's first tokens scored.
    max_members: at most this many trained-on passages, a seeded sample (the held-back side is the
        smaller one, ~20 passages, and bounds the AUC's precision; more members add time, not precision).
    batch_size: passages per forward pass.
    seed: the members' sample.
    """

    k: float = 0.2
    max_tokens: int = 128
    max_members: int = 64
    batch_size: int = 8
    seed: int = 0


def auc(members: list[float], others: list[float]) -> float:
    """P(score of a random member > score of a random non-member), ties counting half (Mann-Whitney)."""
    wins = sum((m > o) + 0.5 * (m == o) for m in members for o in others)
    return wins / (len(members) * len(others))


@torch.no_grad()
def attack_scores(model, texts: list[str], cfg: MIAConfig) -> dict[str, list[float]]:
    """Each attack's membership score of every text (higher: more likely trained on)."""
    out: dict[str, list[float]] = {a: [] for a in ATTACKS}
    for i in range(0, len(texts), cfg.batch_size):
        chunk = texts[i : i + cfg.batch_size]
        ids, mask = model.pad([model.encode(t)[: cfg.max_tokens] for t in chunk])
        logp = torch.log_softmax(model.logits(ids, mask)[:, :-1].float(), -1)
        tok = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)  # log p(x_t | x_<t)
        p = logp.exp()
        mu = (p * logp).sum(-1)
        sigma = ((p * logp.square()).sum(-1) - mu.square()).clamp(min=1e-12).sqrt()
        standard = (tok - mu) / sigma
        real = mask[:, 1:].bool()
        for r, text in enumerate(chunk):
            t, z = tok[r][real[r]], standard[r][real[r]]
            n = max(1, int(len(t) * cfg.k))
            out["loss"].append(float(t.mean()))
            out["zlib"].append(float(t.sum()) / len(zlib.compress(text.encode("utf-8"))))
            out["min_k"].append(float(t.sort().values[:n].mean()))
            out["min_k_pp"].append(float(z.sort().values[:n].mean()))
    return out


@register_check("mia", MIAConfig)
class MIA(Check):
    def missing(self, concept, ctx):
        train, held = concept.forget_split()
        if len(held) < 5 or len(train) < 5:
            return (
                f"it needs forget passages and held-back ones (every {10}th of forget.txt); "
                f"the concept has {len(train)} and {len(held)}"
            )
        return None

    def run(self, model, ctx):
        train, held = ctx.concept.forget_split()
        members = ctx.trained_on.forget_texts if ctx.trained_on and ctx.trained_on.forget_texts else train
        if len(members) > self.cfg.max_members:
            members = random.Random(self.cfg.seed).sample(list(members), self.cfg.max_members)
        seen, unseen = attack_scores(model, members, self.cfg), attack_scores(model, held, self.cfg)
        out = {}
        ref = ctx.memory.setdefault("mia_auc", {})
        for a in ATTACKS:
            value = auc(seen[a], unseen[a])
            ref.setdefault(a, value)
            out[f"mia.{a}.auc"] = value
            out[f"mia.{a}.change"] = (value - ref[a]) / ref[a] if ref[a] else 0.0
        out["mia.members"], out["mia.nonmembers"] = float(len(members)), float(len(held))
        ctx.write("mia", {"members": seen, "nonmembers": unseen})
        return out

    def recall(self, memory, metrics):
        memory.setdefault("mia_auc", {a: metrics[f"mia.{a}.auc"] for a in ATTACKS})
