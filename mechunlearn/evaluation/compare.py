"""Runs side by side: every scorecard figure in one table, and the figures of the compare page.

A run is any folder with a ``report.json`` that holds ``stages`` (what ``prune``, ``clamp``,
``unlearn`` and ``evaluate --run`` write): its last stage is scored against its first, so each
row says what that run forgot and what it kept relative to the model it started from.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.evaluation.published import PUBLISHED
from mechunlearn.evaluation.scorecard import ROWS, scorecard


@dataclass
class RunSummary:
    """One run as the comparison sees it."""

    name: str
    folder: str
    command: str
    card: dict[str, float]
    curve: list[dict] = field(default_factory=list)
    max_retain_drop: float | None = None


def _describe(config: dict[str, Any]) -> str:
    """A compact account of what a run did: its command's settings that are set."""
    skip = {"out", "device", "dtype", "check_options", "concept"}
    parts = [f"{k}={v}" for k, v in config.items() if v not in (None, [], {}, "") and k not in skip]
    return ", ".join(parts)


def read_run(folder: str | Path) -> RunSummary:
    """The scorecard of ``folder``'s last stage against its first, its settings and its training curve."""
    folder = Path(folder)
    path = folder / "report.json"
    if not path.is_file():
        raise MechUnlearnError(
            f"{folder} has no report.json; give folders that prune, clamp, unlearn or evaluate wrote"
        )
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise MechUnlearnError(f"{path}:{e.lineno}: malformed JSON ({e.msg})") from e
    stages = report.get("stages") if isinstance(report, dict) else None
    if not stages:
        raise MechUnlearnError(f"{path} records no stages; give folders that prune, clamp, unlearn or evaluate wrote")
    config = _config(folder)
    training = report.get("training") or {}
    command = _describe(config)
    evaluated = Path(config["run"]) if config.get("run") else None
    if evaluated is not None and (evaluated / "report.json").is_file():
        # an `evaluate --run` folder: the scorecard is its own, the settings and curve the evaluated run's
        run_config = _config(evaluated)
        training = json.loads((evaluated / "report.json").read_text(encoding="utf-8")).get("training") or {}
        command = f"{_describe(run_config)}; evaluated with {_describe(config)}"
        config = run_config
    return RunSummary(
        name=folder.name,
        folder=str(folder),
        command=command,
        card=scorecard(stages[-1]["metrics"], stages[0]["metrics"]),
        curve=list(training.get("curve") or []),
        max_retain_drop=config.get("max_retain_drop"),
    )


def _config(folder: Path) -> dict[str, Any]:
    p = folder / "config.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


def short_names(names: list[str]) -> tuple[list[str], str]:
    """The names without the prefix all share up to a ``-`` or ``_`` (``gemma-3-270m-``), and that prefix."""
    if len(names) < 2:
        return names, ""
    common = os.path.commonprefix(names)
    cut = max(common.rfind("-"), common.rfind("_")) + 1
    if cut == 0 or any(len(n) == cut for n in names):
        return names, ""
    return [n[cut:] for n in names], names[0][:cut]


def label_positions(points: list[tuple[float, float, str]], xrange: tuple[float, float]) -> list[str]:
    """A text position per point (above, below, left or right of it) so that names of runs close together
    do not print on top of each other: each in turn takes the side whose label box overlaps least with
    the markers and the labels already placed (in the plot's unit square; ~7 px a character on ~700 px)."""
    sides = {"top center": (0, 1), "bottom center": (0, -1), "middle right": (1, 0), "middle left": (-1, 0)}
    span = (xrange[1] - xrange[0]) or 1.0
    marks = [((x - xrange[0]) / span, y / 1.1) for x, y, _ in points]
    boxes: list[tuple[float, float, float, float]] = [
        (mx - 0.01, my - 0.015, mx + 0.01, my + 0.015) for mx, my in marks
    ]
    out = []
    for (mx, my), (_, _, name) in zip(marks, points, strict=True):
        w, h = 0.01 * len(name), 0.035

        def box(dx, dy, mx=mx, my=my, w=w, h=h):
            cx, cy = mx + dx * (w / 2 + 0.012), my + dy * (h / 2 + 0.015)
            return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)

        def clash(b):
            inside = max(0.0, -b[0]) + max(0.0, b[2] - 1.0)  # a label off the plot counts against it
            return inside + sum(
                max(0.0, min(b[2], o[2]) - max(b[0], o[0])) * max(0.0, min(b[3], o[3]) - max(b[1], o[1])) for o in boxes
            )

        best = min(sides, key=lambda k: clash(box(*sides[k])))
        boxes.append(box(*sides[best]))
        out.append(best)
    return out


def table_rows(runs: list[RunSummary]) -> tuple[list[str], list[list[Any]]]:
    """Header and one row per run: every scorecard figure any run has, in the scorecard's order."""
    keys = [k for k, _ in ROWS if any(k in r.card for r in runs)]
    return ["run", *keys], [[r.name, *(r.card.get(k) for k in keys)] for r in runs]


def pareto(runs: list[RunSummary], forget: str = "forget.mc", keep: str = "keep.mc") -> list[RunSummary]:
    """The runs no other run beats on both sides (less ``forget``, at least as much ``keep``), by ``keep``."""
    pts = [r for r in runs if forget in r.card and keep in r.card]
    front = [
        r
        for r in pts
        if not any(
            (o.card[forget] <= r.card[forget] and o.card[keep] >= r.card[keep])
            and (o.card[forget] < r.card[forget] or o.card[keep] > r.card[keep])
            for o in pts
        )
    ]
    return sorted(front, key=lambda r: r.card[keep])


def compare_figure(runs: list[RunSummary]):
    """Forget vs keep (Pareto frontier, budget line), every scorecard figure per run, training curves."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    header, rows = table_rows(runs)
    fig = make_subplots(
        rows=3,
        cols=1,
        row_heights=[0.4, 0.3, 0.3],
        vertical_spacing=0.1,
        subplot_titles=(
            "what each run forgot (concept MC, known facts; lower is more forgotten)<br>against what it kept "
            "(other facts' MC; higher is better)",
            "every scorecard figure",
            "training loss per step, over its first step's (methods' losses differ in scale)",
        ),
    )
    pts = [r for r in runs if "forget.mc" in r.card and "keep.mc" in r.card]
    label = dict(zip([r.name for r in runs], short_names([r.name for r in runs])[0], strict=True))
    budgets = {r.max_retain_drop for r in runs if r.max_retain_drop is not None}
    lows = [r.card["keep.mc"] for r in pts] + [1 - b for b in budgets] + [p.keep_ratio for p in PUBLISHED]
    fig.add_trace(
        go.Scatter(
            x=[r.card["keep.mc"] for r in pts],
            y=[r.card["forget.mc"] for r in pts],
            mode="markers+text",
            text=[label[r.name] for r in pts],
            textposition=label_positions(
                [(r.card["keep.mc"], r.card["forget.mc"], label[r.name]) for r in pts],
                (min(lows) - 0.03, 1.04),
            ),
            marker={"size": 11, "color": "#2471a3"},
            customdata=[[r.name, r.command] for r in pts],
            hovertemplate="%{customdata[0]}<br>keep %{x:.3f}, forget %{y:.3f}<br>%{customdata[1]}<extra></extra>",
            name="runs",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=[p.keep_ratio for p in PUBLISHED],
            y=[p.forget_ratio for p in PUBLISHED],
            mode="markers+text",
            text=[p.method for p in PUBLISHED],
            textposition=["top left" if p.keep_ratio > 0.9 else "top right" for p in PUBLISHED],
            textfont={"color": "#7f8c8d"},
            marker={"size": 10, "color": "#95a5a6", "symbol": "diamond"},
            customdata=[[p.source, p.model, p.forget_measure, p.keep_measure] for p in PUBLISHED],
            hovertemplate="%{text}: %{customdata[0]}, %{customdata[1]}<br>%{customdata[2]} after/before %{y:.3f}"
            "<br>%{customdata[3]} after/before %{x:.3f}<extra></extra>",
            name="published (other models and benchmarks; after / before)",
        ),
        row=1,
        col=1,
    )
    front = pareto(runs)
    if len(front) > 1:
        fig.add_trace(
            go.Scatter(
                x=[r.card["keep.mc"] for r in front],
                y=[r.card["forget.mc"] for r in front],
                mode="lines",
                line={"color": "#c0392b", "dash": "dot"},
                name="Pareto frontier",
            ),
            row=1,
            col=1,
        )
    for b in sorted(budgets):
        fig.add_vline(
            x=1 - b,
            line_dash="dash",
            line_color="#1e8449",
            annotation_text=f"1 - retain budget {b:g}",
            row=1,
            col=1,
        )
    for key in header[1:]:
        fig.add_trace(
            go.Bar(name=key, x=[label[r[0]] for r in rows], y=[r[header.index(key)] for r in rows], legendgroup="bars"),
            row=2,
            col=1,
        )
    for r in runs:
        losses = [c.get("loss") for c in r.curve]
        if losses and losses[0]:  # each run's loss over the size of its first: methods' losses differ in scale
            fig.add_trace(
                go.Scatter(
                    x=[c["step"] for c in r.curve],
                    y=[v / abs(losses[0]) if v is not None else None for v in losses],
                    mode="lines",
                    name=f"{label[r.name]} loss",
                    customdata=[[v, r.command] for v in losses],
                    hovertemplate=f"{r.name}<br>step %{{x}}, loss %{{customdata[0]:.4g}}<br>%{{customdata[1]}}"
                    "<extra></extra>",
                ),
                row=3,
                col=1,
            )
    fig.update_xaxes(title_text="keep: other facts' MC (known)", range=[min(lows) - 0.03, 1.04], row=1, col=1)
    fig.update_yaxes(title_text="forget: concept MC (known)", range=[-0.02, 1.08], row=1, col=1)
    fig.update_yaxes(title_text="value", row=2, col=1)
    fig.update_xaxes(title_text="optimiser step", row=3, col=1)
    fig.update_yaxes(title_text="loss / |first loss|", row=3, col=1)
    prefix = short_names([r.name for r in runs])[1]
    title = "mechunlearn compare" + (f": runs {prefix}*" if prefix else "")
    fig.update_layout(barmode="group", height=1300, width=1100, template="plotly_white", title=title)
    return fig
