"""SAE feature rankings, stored under ``probes/<model>/<concept>/sae-<hook>-<SAE fingerprint>/<method>/``.

The folder names the SAE by its weights' fingerprint (its first 8 hex digits), so two SAEs at one hook
keep a ranking each: under ``sae-<hook>`` alone, ranking a second SAE replaced the first one's.

Next to ``ranking.json`` and ``scores.safetensors`` (as for neurons), ``features.json``
lists every feature in ranked order with its score, firing frequency and mean activation on
concept and on other tokens, and its top activating contexts in the concept's sentences.
The store key adds the SAE's fingerprint to the method, config, model and concept.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from mechunlearn.concepts.folders import Concept
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.paths import probes_dir
from mechunlearn.models.hooked import HookedLM, model_slug
from mechunlearn.ranking.base import FEATURE_RANKERS, Ranking
from mechunlearn.ranking.data import probing_items
from mechunlearn.ranking.sae_data import feature_stats, top_contexts
from mechunlearn.ranking.store import _store, concept_hash, edits_part, ranking_key, slot, synth_part
from mechunlearn.saes.loading import check_sae_fits, sae_fingerprint

FEATURE_METHODS_DEFAULT = "sae-activation"


def feature_table(model: HookedLM, sae, concept: Concept, ranking: Ranking, n_contexts: int = 3) -> list[dict]:
    """Every feature in ranked order: score, frequency and mean on concept/other tokens, contexts."""
    stats = feature_stats(model, sae, probing_items(model, concept))
    freq1, freq0, mean1, mean0 = stats.freq(1)[0], stats.freq(0)[0], stats.mean(1)[0], stats.mean(0)[0]
    order = [int(i) for i in ranking.order]
    fired = [i for i in order if freq1[i] > 0]
    contexts = top_contexts(model, sae, concept, fired, n=n_contexts) if fired else {}
    return [
        {
            "rank": r,
            "feature": i,
            "score": float(ranking.scores[0, i]),
            "freq_concept": round(float(freq1[i]), 5),
            "freq_other": round(float(freq0[i]), 5),
            "mean_concept": round(float(mean1[i]), 5),
            "mean_other": round(float(mean0[i]), 5),
            "contexts": contexts.get(i, []),
        }
        for r, i in enumerate(order)
    ]


def rank_features(
    model: HookedLM,
    sae,
    sae_ref: str,
    concept: Concept,
    method: str = FEATURE_METHODS_DEFAULT,
    options: dict | None = None,
    *,
    store: Path | None = None,
    reuse: bool = True,
) -> tuple[Ranking, Path]:
    """Rank ``sae``'s features for ``concept`` on ``model``; returns the ranking and its folder."""
    method = FEATURE_RANKERS.canonical(method)
    cfg = FEATURE_RANKERS.build_config(method, options)
    hook = check_sae_fits(sae, model, sae_ref)
    fp, sfp, edits = model.fingerprint(), sae_fingerprint(sae), edits_part(model)
    key = ranking_key(method, cfg, fp, concept, edits, synth_part(cfg, model, concept), sae=sfp)
    sae_dir = f"sae-{hook}-{sfp[:8]}"
    folder = (store or probes_dir()) / model_slug(model) / concept.name / sae_dir / slot(method, edits, cfg)

    def compute() -> Ranking:
        ranking = FEATURE_RANKERS.get(method)(model, sae, concept, cfg)
        ranking.model = {"name": model.name, "fingerprint": fp}
        ranking.sae = {"ref": sae_ref, "hook": hook, "d_sae": int(sae.cfg.d_sae), "fingerprint": sfp}
        ranking.config = dataclasses.asdict(cfg) | {"key": key, "concept_hash": concept_hash(concept)}
        return ranking

    def write_features(ranking: Ranking, folder: Path) -> None:
        table = feature_table(model, sae, concept, ranking)
        (folder / "features.json").write_text(json.dumps(table, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    return _store(folder, key if reuse else "", compute, write_features), folder


def load_feature_table(folder: Path) -> list[dict]:
    p = Path(folder) / "features.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else []


def check_feature_ranking_matches(ranking: Ranking, sae, sae_ref: str) -> None:
    """Refuse a stored feature ranking made for another SAE."""
    if ranking.unit != "sae_feature":
        raise MechUnlearnError("the given ranking ranks MLP neurons, not SAE features; give a feature ranking")
    if ranking.sae.get("fingerprint") != sae_fingerprint(sae):
        raise MechUnlearnError(
            f"the feature ranking was made for SAE '{ranking.sae.get('ref')}', not for '{sae_ref}'; "
            "re-rank with this SAE"
        )
