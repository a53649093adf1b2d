"""``cache``: run a concept's probing sentences through a model and keep the activations."""

from __future__ import annotations

from pathlib import Path

from mechunlearn.activations.caching import NeuronStats, ShardWriter, run_and_cache
from mechunlearn.concepts.folders import load_concept
from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.core.io import ensure_new_dir
from mechunlearn.core.runs import default_out, run_folder
from mechunlearn.edits.stack import load_model_or_run
from mechunlearn.models import HookedLM
from mechunlearn.ranking.data import probing_items


def expand_hooks(model: HookedLM, hooks: list[str]) -> list[str]:
    """``mlp`` / ``resid`` expand to every layer; other names must be hook points."""
    out: list[str] = []
    for h in hooks:
        if h == "mlp":
            out += [model.mlp_hook(i) for i in range(model.n_layers)]
        elif h == "resid":
            out += [model.resid_hook(i) for i in range(model.n_layers)]
        else:
            out.append(model.check_hook(h))
    return out


def cache_job(
    concept: str,
    model: str | None,
    hooks: list[str],
    to_disk: bool = False,
    batch_size: int = 32,
    device: str | None = None,
    out: Path | None = None,
    print_fn=print,
) -> Path:
    """Write per-label statistics (``stats-<dim>.safetensors``) or activation shards to ``out``."""
    out = Path(out) if out else default_out("cache", Path(concept).name)
    ensure_new_dir(out)
    c = load_concept(concept)
    m = load_model_or_run(model, device=device)
    names = expand_hooks(m, hooks)
    items = probing_items(m, c)
    cfg = {"concept": concept, "model": model, "hooks": names, "to_disk": to_disk, "batch_size": batch_size}
    with run_folder(out, cfg) as tmp:
        if to_disk:
            (tmp / "shards").mkdir()
            run_and_cache(m, items, names, [ShardWriter(tmp / "shards")], batch_size=batch_size)
        else:
            by_dim: dict[int, list[str]] = {}
            for h in names:
                d = m.d_mlp if h.endswith("mlp.hook_post") else m.d_model if "resid" in h else None
                if d is None:
                    raise MechUnlearnError(f"statistics need mlp or resid hooks; use --to-disk for '{h}'")
                by_dim.setdefault(d, []).append(h)
            for d, hs in by_dim.items():
                stats = NeuronStats(hs, d)
                run_and_cache(m, items, hs, [stats], batch_size=batch_size)
                stats.save(tmp / f"stats-{d}.safetensors")
    print_fn(f"wrote {out}")
    return out
