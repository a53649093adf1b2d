"""Plotly figures of rankings (self-contained HTML: the plotly.js bundle is embedded)."""

from __future__ import annotations

from pathlib import Path

from mechunlearn.ranking.base import Ranking


def ranking_figure(ranking: Ranking, top: int = 30, pruned: int = 0):
    """Layer x neuron heatmap of scores above a bar chart of the ``top`` neurons (pruned ones dark)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=2,
        cols=1,
        row_heights=[0.55, 0.45],
        vertical_spacing=0.14,
        subplot_titles=(
            f"{ranking.method} scores per MLP neuron (layer x index)",
            f"top {top} neurons" + (f" (dark: among the {pruned} pruned)" if pruned else ""),
        ),
    )
    fig.add_trace(
        go.Heatmap(
            z=ranking.scores,
            # signed scores (attribution) get a diverging scale centred on 0, so sign is visible
            colorscale="RdBu_r" if ranking.scores.min() < 0 else "Viridis",
            zmid=0 if ranking.scores.min() < 0 else None,
            colorbar={"title": "score", "len": 0.5, "y": 0.78},
            hovertemplate="layer %{y}, neuron %{x}<br>score %{z:.4g}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    best = ranking.top(min(top, ranking.n_neurons))
    labels = [f"L{n.layer}.{n.index}" for n in best]
    vals = [float(ranking.scores[n.layer, n.index]) for n in best]
    colors = ["#1f3b73" if i < pruned else "#8fb3e8" for i in range(len(best))]
    fig.add_trace(
        go.Bar(x=labels, y=vals, marker_color=colors, showlegend=False, hovertemplate="%{x}: %{y:.4g}<extra></extra>"),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text="layer", row=1, col=1, dtick=1)
    fig.update_xaxes(title_text="neuron index", row=1, col=1)
    fig.update_yaxes(title_text="score", row=2, col=1)
    model = ranking.model.get("name", "?")
    fig.update_layout(
        title=f"Concept '{ranking.concept}' neurons in {model}", height=800, width=1100, template="plotly_white"
    )
    return fig


def tradeoff_figure(curves: dict[str, dict[str, list[float]]], before: dict[str, float], title: str):
    """Forget and retain fact accuracy as more top-ranked neurons are ablated, one line per method.

    ``curves[name]`` holds lists ``k``, ``forget_fact_acc``, ``retain_fact_acc``; the unedited
    model's accuracies are drawn as dashed lines.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    palette = [
        "#1f77b4",
        "#d62728",
        "#2ca02c",
        "#9467bd",
        "#ff7f0e",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
    ]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("forget fact accuracy (lower is better)", "retain fact accuracy (higher is better)"),
    )
    for i, (name, c) in enumerate(curves.items()):
        dash = "dot" if "mean" in name else "solid"
        for col, key in ((1, "forget_fact_acc"), (2, "retain_fact_acc")):
            fig.add_trace(
                go.Scatter(
                    x=c["k"],
                    y=c[key],
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    line={"color": palette[i % len(palette)], "dash": dash},
                ),
                row=1,
                col=col,
            )
    for col, key in ((1, "forget_fact_acc"), (2, "retain_fact_acc")):
        fig.add_hline(
            y=before[key],
            line_dash="dash",
            line_color="gray",
            row=1,
            col=col,
            annotation_text="unedited",
            annotation_position="bottom right",
        )
        fig.update_xaxes(title_text="neurons ablated (top-k, log scale)", type="log", row=1, col=col)
        fig.update_yaxes(range=[-0.02, 1.02], row=1, col=col)
    fig.update_layout(title=title, height=520, width=1250, template="plotly_white")
    return fig


def write_html(fig, path: Path) -> None:
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)


def top_table(ranking: Ranking, k: int = 20) -> list[dict]:
    return [
        {"rank": i, "layer": n.layer, "index": n.index, "score": float(ranking.scores[n.layer, n.index])}
        for i, n in enumerate(ranking.top(min(k, ranking.n_neurons)))
    ]


def feature_ranking_figure(ranking: Ranking, table: list[dict], top: int = 40, clamped: int = 0):
    """Top SAE features (bars; clamped ones dark; hover shows top contexts) above every feature's
    firing frequency on concept vs other tokens (clamped ones marked)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    hook = ranking.sae.get("hook", "?")
    fig = make_subplots(
        rows=2,
        cols=1,
        row_heights=[0.5, 0.5],
        vertical_spacing=0.14,
        subplot_titles=(
            f"top {top} features by {ranking.method}" + (f" (dark: the {clamped} clamped)" if clamped else ""),
            "firing frequency on concept tokens vs other tokens, every feature",
        ),
    )
    rows = table[:top]

    def hover(r):
        ctx = "<br>".join(c["text"].replace("[[", "<b>").replace("]]", "</b>") for c in r["contexts"][:3])
        return f"feature {r['feature']}<br>score {r['score']:.4g}<br>{ctx or '(never fires on concept sentences)'}"

    fig.add_trace(
        go.Bar(
            x=[f"f{r['feature']}" for r in rows],
            y=[r["score"] for r in rows],
            marker_color=["#1f3b73" if r["rank"] < clamped else "#8fb3e8" for r in rows],
            hovertext=[hover(r) for r in rows],
            hoverinfo="text",
            showlegend=False,
        ),
        row=1,
        col=1,
    )
    for name, sel, color in (("not clamped", False, "#9aa5b1"), ("clamped", True, "#d62728")):
        pts = [r for r in table if (r["rank"] < clamped) == sel]
        fig.add_trace(
            go.Scattergl(
                x=[r["freq_other"] for r in pts],
                y=[r["freq_concept"] for r in pts],
                mode="markers",
                marker={"size": 5 if not sel else 7, "color": color, "opacity": 0.6 if not sel else 0.9},
                name=name,
                hovertext=[hover(r) for r in pts],
                hoverinfo="text",
            ),
            row=2,
            col=1,
        )
    fig.update_yaxes(title_text="score", row=1, col=1)
    fig.update_xaxes(title_text="fraction of other tokens it fires on", row=2, col=1)
    fig.update_yaxes(title_text="fraction of concept tokens", row=2, col=1)
    model = ranking.model.get("name", "?")
    fig.update_layout(
        title=f"Concept '{ranking.concept}': SAE features at {hook} of {model}",
        height=850,
        width=1100,
        template="plotly_white",
    )
    return fig


def training_figure(curve: list[dict], title: str, max_drop: float | None = None):
    """Training losses per step; at each budget check, the retain loss on the validation split (with
    the budget) and the share of the known validation-split forget facts the model still gets right."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.09,
        subplot_titles=(
            "training losses (per step)",
            "retain loss on the validation split (budget checks)",
            "known forget facts still right (validation split)",
        ),
    )
    steps = [c["step"] for c in curve]
    names = {"forget": "forget term", "retain": "retain term", "mismatch": "mismatch term", "loss": "total loss"}
    for key, color in (("forget", "#c0392b"), ("retain", "#2471a3"), ("mismatch", "#7d3c98"), ("loss", "#555555")):
        if any(key in c for c in curve):
            fig.add_trace(
                go.Scatter(x=steps, y=[c.get(key) for c in curve], name=names[key], line={"color": color}),
                row=1,
                col=1,
            )
    checks = [c["retain_validation"] | {"step": c["step"]} for c in curve if "retain_validation" in c]
    for row, key, name, color in (
        (2, "retain_loss", "retain loss (validation)", "#1e8449"),
        (3, "forget_known_still", "forget facts still known (validation)", "#b9770e"),
    ):
        points = [c for c in checks if c.get(key) is not None]
        if points:
            fig.add_trace(
                go.Scatter(
                    x=[c["step"] for c in points],
                    y=[c[key] for c in points],
                    mode="lines+markers",
                    name=name,
                    line={"color": color},
                ),
                row=row,
                col=1,
            )
    if checks and max_drop is not None:
        fig.add_hline(
            y=max_drop,
            line_dash="dash",
            line_color="#1e8449",
            annotation_text=f"budget {max_drop:g}",
            row=2,
            col=1,
        )
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text="retain loss", row=2, col=1)
    fig.update_yaxes(title_text="share", range=[0, 1.05], row=3, col=1)
    fig.update_xaxes(title_text="optimiser step", row=3, col=1)
    fig.update_layout(title=title, height=900, width=1000, template="plotly_white")
    return fig
