"""The demo page (a Streamlit script): ``mechunlearn demo RUN ...`` starts it with ``streamlit run``.

Arguments come after ``--`` on the ``streamlit run`` line (``--model M --concept C RUN ...``), or as
JSON in ``MECHUNLEARN_DEMO`` (``{"runs": [...], "model": ..., "concept": ...}``). One column per
model — the base model, then each run with its edits in force — each generating from the same
prompt, streamed as it comes, above the run's scorecard and the command that reproduces it.
Models are loaded once per server (``st.cache_resource``); nothing is requested from outside.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from mechunlearn.core.errors import MechUnlearnError
from mechunlearn.demo.runs import DemoRun, read_demo_runs, ready_prompts
from mechunlearn.evaluation.scorecard import ROWS

OWN = "(write your own)"
LABELS = {
    "forget.mc": "concept facts, MC (known)",
    "forget.greedy": "concept facts, greedy (known)",
    "forget.familiarity": "familiar concept continuations",
    "forget.adversarial_worst": "worst adversarial form, MC",
    "forget.after_relearning": "after a relearning attack",
    "forget.mia_auc": "membership inference AUC",
    "keep.mc": "other facts, MC (known)",
    "keep.greedy": "other facts, greedy (known)",
    "keep.ppl_ratio": "retain perplexity ratio",
    "keep.familiarity": "familiar control continuations",
}


def arguments() -> dict:
    if os.environ.get("MECHUNLEARN_DEMO"):
        return {"runs": [], "model": None, "concept": "harry_potter"} | json.loads(os.environ["MECHUNLEARN_DEMO"])
    p = argparse.ArgumentParser(prog="mechunlearn demo")
    p.add_argument("runs", nargs="*")
    p.add_argument("--model", default=None)
    p.add_argument("--concept", default="harry_potter")
    return vars(p.parse_args(sys.argv[1:]))


@st.cache_resource(show_spinner="Loading the model (once per server) ...")
def load(kind: str, ref: str):
    from mechunlearn.core.paths import home
    from mechunlearn.edits.stack import load_run
    from mechunlearn.models import load_model

    if kind == "run":
        return load_run(ref)
    if ref == "bundled":
        return load_model(None)
    return load_model(str(home() / ref) if (home() / ref).is_dir() else ref)


def scorecard_rows(run: DemoRun) -> list[dict]:
    return [
        {"figure": LABELS[k], "before": run.before.get(k), "after": run.scorecard[k]}
        for k, _ in ROWS
        if k in run.scorecard
    ]


def main() -> None:
    st.set_page_config(page_title="mechunlearn demo", layout="wide", initial_sidebar_state="expanded")
    args = arguments()
    try:
        base, runs = read_demo_runs(list(args["runs"]), args.get("model"))
    except MechUnlearnError as e:
        st.error(str(e))
        st.stop()
    concept = runs[0].concept if runs else args.get("concept") or "harry_potter"
    st.title(f"What was forgotten: {concept.replace('_', ' ')}")
    st.caption(f"Base model: {base}. Every column generates from the same prompt, its edits in force.")
    with st.sidebar:
        st.header("Sampling")
        greedy = st.checkbox("Greedy", value=True, key="greedy")
        temperature = st.slider("Temperature", 0.1, 1.5, 0.8, 0.1, disabled=greedy, key="temperature")
        max_tokens = st.slider("Max new tokens", 8, 128, 32, 8, key="max_tokens")
        seed = st.number_input("Seed", value=0, step=1, key="seed")
    prompts = ready_prompts(concept)
    kind = st.selectbox("Ready-made prompts", [OWN, *prompts], key="kind")
    choice = st.selectbox("Prompt to try", prompts[kind], key=f"choice-{kind}") if kind in prompts else ""
    prompt = st.text_area("Prompt", value=choice, key=f"prompt-{kind}-{choice}", height=90)
    go = st.button("Generate", type="primary", key="generate", disabled=not prompt.strip())
    columns = [("base", f"base: {base}", None), *[("run", r.name, r) for r in runs]]
    generations = st.session_state.setdefault("generations", {})
    for col, (what, title, run) in zip(st.columns(len(columns)), columns, strict=True):
        with col:
            st.subheader(title)
            if go:
                import time

                from mechunlearn.models.generate import stream

                model = load(what, run.folder if run else base)
                t, start = 0.0 if greedy else float(temperature), time.perf_counter()
                text = st.write_stream(stream(model, prompt, int(max_tokens), temperature=t, seed=int(seed)))
                generations[title] = (text, time.perf_counter() - start)
            if title in generations:
                text, seconds = generations[title]
                if not go:
                    st.markdown(text)
                st.caption(f"generated in {seconds:.1f} s")
            if run is not None:
                st.caption(" -> ".join(run.stages) + (f"; {run.settings}" if run.settings else ""))
                st.table(scorecard_rows(run))
                st.code(run.command, language="bash")
                if run.top_units:
                    with st.expander("Top units of its ranking"):
                        st.dataframe(run.top_units, hide_index=True)
                for page, label in (("ranking.html", "Ranking figure"), ("training.html", "Training curve")):
                    path = Path(run.folder) / page
                    if path.is_file():  # the run's own plotly page (plotly.js inline: nothing fetched)
                        with st.expander(label):
                            components.html(path.read_text(encoding="utf-8"), height=520, scrolling=True)


main()
