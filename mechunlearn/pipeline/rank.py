"""``rank``: rank a concept's neurons without pruning; report in a run folder."""

from __future__ import annotations

from pathlib import Path

from mechunlearn.concepts.folders import load_concept
from mechunlearn.core.io import ensure_new_dir, write_json
from mechunlearn.core.runs import default_out, run_folder
from mechunlearn.edits.stack import load_model_or_run
from mechunlearn.evaluation.plots import ranking_figure, top_table, write_html
from mechunlearn.ranking import Ranking, rank
from mechunlearn.ranking.base import RANKERS


def rank_job(
    concept: str,
    model: str | None,
    method: str,
    options: dict,
    device: str | None = None,
    out: Path | None = None,
    print_fn=print,
) -> Ranking:
    """Rank, store under probes/, and write config, log, ranking/ and ranking.html to ``out``."""
    RANKERS.build_config(method, options)  # bad options fail before anything is loaded
    out = Path(out) if out else default_out("rank", Path(concept).name)
    ensure_new_dir(out)
    c = load_concept(concept)
    m = load_model_or_run(model, device=device)
    cfg = {"concept": concept, "model": model, "method": method, "options": options, "device": device}
    with run_folder(out, cfg) as tmp:
        r, folder = rank(m, c, method, options)
        r.save(tmp / "ranking")
        write_html(ranking_figure(r), tmp / "ranking.html")
        write_json(tmp / "top_neurons.json", {"store": str(folder), "metrics": r.metrics, "top": top_table(r, 50)})
    for row in top_table(r, 10):
        print_fn(f"{row['rank']:3d}  L{row['layer']}.{row['index']:<6d} {row['score']:.4g}")
    print_fn(f"ranking stored in {folder}; report in {out}")
    return r
