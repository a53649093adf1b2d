"""Rankings are stored under ``probes/<model>/<concept>/<method>/`` and reused when valid.

A stored ranking is reused only if its key matches: a hash of the method, its config, the
model's fingerprint (config + weights) and the concept's files. Anything else changed means
it is recomputed and the store entry replaced.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path

from mechunlearn.concepts.folders import Concept
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.paths import probes_dir
from mechunlearn.models.hooked import HookedLM, model_slug
from mechunlearn.ranking.base import RANKERS, Ranking
from mechunlearn.synth.folder import synth_data

log = logging.getLogger(__name__)


# concept files no ranking reads: adding or editing one must not make every stored ranking stale
NOT_RANKED = frozenset({"entities.txt", "anchors.tsv", "guardrail.txt", "title.txt"})


def concept_hash(concept: Concept) -> str:
    """A hash of the concept folder's files that rankings read (its top-level files but ``NOT_RANKED``)."""
    h = hashlib.sha256()
    for f in sorted(concept.path.iterdir()):
        if f.is_file() and f.name not in NOT_RANKED:
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def known_part(cfg: object, concept: Concept) -> dict | None:
    """The known subset, for methods that read facts (``reads_facts``); others do not depend on it."""
    return concept.known if getattr(cfg, "reads_facts", False) else None


def edits_part(model: HookedLM) -> list[dict]:
    """The edits in force as hooks (an SAE clamp, a guardrail, pruned neurons kept in force): a ranking
    computed through them is not the bare weights' ranking, which the fingerprint alone would say."""
    return [e.to_dict() for e in model.edits]


def synth_part(cfg: object, model: HookedLM, concept: Concept) -> str | None:
    """The synthetic corpus' passages, hashed, for a method that reads them (``forget_from`` synth / both)."""
    if getattr(cfg, "forget_from", "facts") == "facts":
        return None
    return hashlib.sha256(synth_data(model, concept, "forget").read_bytes()).hexdigest()[:16]


# options added after rankings were stored, left out of the key at their defaults (where they change
# nothing) so that the stored rankings stay valid
LATER_OPTIONS = {"forget_from": "facts", "synth_passages": 256}


def config_part(cfg: object) -> dict:
    """The ranking config as its key sees it (see ``LATER_OPTIONS``)."""
    d = dataclasses.asdict(cfg)
    if d.get("forget_from", "facts") == "facts":
        d = {k: v for k, v in d.items() if k not in LATER_OPTIONS}
    return d


def ranking_key(method: str, cfg: object, fingerprint: str, concept: Concept, edits: list[dict] | None = None,
                synth: str | None = None, sae: str | None = None) -> str:  # fmt: skip
    """The store key: method, config, model (and SAE) fingerprints, concept files and known subset; the edits
    in force and the synthetic corpus only when there are any, so that keys stored without them stay valid."""
    parts = [method, config_part(cfg), fingerprint, *([sae] if sae else []), concept_hash(concept)]
    parts.append(known_part(cfg, concept))
    payload = json.dumps(parts + ([edits] if edits else []) + ([synth] if synth else []), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _short(x: object) -> str:
    return hashlib.sha256(json.dumps(x, sort_keys=True).encode()).hexdigest()[:8]


def slot(name: str, edits: list[dict], cfg: object | None = None) -> str:
    """The store folder's name: the method's; ``+options-<hash>`` when its options are not the defaults and
    ``+edits-<hash>`` with edits in force, so neither ever replaces the bare model's default ranking."""
    out = name
    if cfg is not None and cfg != type(cfg)():
        default = dataclasses.asdict(type(cfg)())
        out += "+options-" + _short({k: v for k, v in dataclasses.asdict(cfg).items() if default[k] != v})
    return out + (f"+edits-{_short(edits)}" if edits else "")


def _store(folder: Path, key: str, compute, write_extra=None) -> Ranking:
    """The ranking stored in ``folder`` if its key is ``key``, else ``compute()`` stored there."""
    if (folder / "ranking.json").is_file():
        old = Ranking.load(folder)
        if old.config.get("key") == key:
            log.info("reusing stored ranking %s", folder)
            return old
        log.info("stored ranking at %s is stale (model, concept or config changed); recomputing", folder)
    ranking = compute()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        ranking.save(tmp)
        if write_extra is not None:
            write_extra(ranking, tmp)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ranking


def rank(
    model: HookedLM,
    concept: Concept,
    method: str = "probe",
    options: dict | None = None,
    *,
    store: Path | None = None,
    reuse: bool = True,
) -> tuple[Ranking, Path]:
    """Rank the model's MLP neurons for ``concept``; returns the ranking and its store folder."""
    method = RANKERS.canonical(method)
    cfg = RANKERS.build_config(method, options)
    fp, edits = model.fingerprint(), edits_part(model)
    key = ranking_key(method, cfg, fp, concept, edits, synth_part(cfg, model, concept))
    folder = (store or probes_dir()) / model_slug(model) / concept.name / slot(method, edits, cfg)

    def compute() -> Ranking:
        ranking = RANKERS.get(method)(model, concept, cfg)
        ranking.model = {"name": model.name, "fingerprint": fp}
        ranking.config = dataclasses.asdict(cfg) | {"key": key, "concept_hash": concept_hash(concept)}
        return ranking

    return _store(folder, key if reuse else "", compute), folder


def check_ranking_matches(ranking: Ranking, model: HookedLM) -> None:
    """Refuse a ranking computed on another model (by fingerprint and shape)."""
    fp = model.fingerprint()
    if ranking.model.get("fingerprint") != fp or ranking.scores.shape != (model.n_layers, model.d_mlp):
        raise MechUnlearnError(
            f"the ranking was computed on model '{ranking.model.get('name')}' (fingerprint "
            f"{ranking.model.get('fingerprint')}, shape {tuple(ranking.scores.shape)}), not on '{model.name}' "
            f"(fingerprint {fp}, shape {(model.n_layers, model.d_mlp)}); re-rank on this model"
        )
