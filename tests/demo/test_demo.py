"""The demo on the bundled model through Streamlit's AppTest: one generation per column, a pruned run
differs from the base on a concept prompt, its scorecard renders, a run of another base is refused;
and the command's checks. A slow test starts the real server and screenshots it with Chromium."""

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from mechunlearn.demo.runs import ready_prompts  # noqa: E402
from tests.helpers import run_cli  # noqa: E402

APP = str(Path(__file__).resolve().parents[2] / "mechunlearn" / "demo" / "app.py")
PROMPT = "The potion that lets the drinker take on another person's appearance is"


@pytest.fixture(scope="module")
def pruned_run(tmp_path_factory):
    """The default prune of the bundled model (its concept neurons ablated)."""
    out = tmp_path_factory.mktemp("demo") / "pruned"
    from mechunlearn.pipeline.config import PruneConfig
    from mechunlearn.pipeline.prune import prune

    prune(PruneConfig(out=str(out)), print_fn=lambda *a: None)
    return out


def _app(monkeypatch, **args) -> AppTest:
    monkeypatch.setenv("MECHUNLEARN_DEMO", json.dumps(args))
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    return at


def test_one_generation_per_column_and_the_scorecard(monkeypatch, pruned_run):
    at = _app(monkeypatch, runs=[str(pruned_run)])
    assert not at.exception, at.exception
    assert len(at.columns) == 2 and [c.subheader[0].value for c in at.columns] == ["base: bundled", "pruned"]
    at.text_area[0].set_value(PROMPT).run()
    at.button(key="generate").click()
    at.run()
    assert not at.exception, at.exception
    gens = at.session_state["generations"]
    assert set(gens) == {"base: bundled", "pruned"} and all(text for text, _ in gens.values())
    assert gens["base: bundled"][0] != gens["pruned"][0], gens  # the pruned neurons change the concept's completion
    card = at.columns[1].table[0].value
    assert "concept facts, MC (known)" in list(card["figure"]) and card["after"].notna().all()
    assert "mechunlearn prune --config" in at.columns[1].code[0].value
    assert "Ranking figure" in [e.label for e in at.columns[1].expander]  # the run's own ranking page
    # a ready-made prompt fills the prompt box
    at.selectbox(key="kind").set_value("Try a jailbreak").run()
    assert at.text_area[0].value == ready_prompts("harry_potter")["Try a jailbreak"][0]


def test_a_run_of_another_base_model_is_refused(monkeypatch, capsys, pruned_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(pruned_run, other, ignore=shutil.ignore_patterns("model"))
    stack = json.loads((other / "edits.json").read_text())
    stack["base_model"] = "gemma-3-270m"
    (other / "edits.json").write_text(json.dumps(stack))
    at = _app(monkeypatch, runs=[str(pruned_run), str(other)])
    assert "made from model 'gemma-3-270m', not 'bundled'" in at.error[0].value
    code, _, err = run_cli(monkeypatch, capsys, "demo", pruned_run, other, "--port", "8599")
    assert code == 2 and "made from model 'gemma-3-270m', not 'bundled'" in err, err


def test_bad_demo_input(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "demo", tmp_path)
    assert code == 2 and "is not a mechunlearn output" in err, err
    code, _, err = run_cli(monkeypatch, capsys, "demo", "--port", "70000")
    assert code == 2 and "--port must be a TCP port in 1..65535, got 70000" in err, err
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "streamlit" else real(n, *a))
    code, _, err = run_cli(monkeypatch, capsys, "demo")
    assert code == 2 and "pip install 'mechunlearn[demo]'" in err, err


@pytest.mark.slow
def test_real_server_screenshot(pruned_run, tmp_path):
    """``mechunlearn demo`` serves the page on localhost; in headless Chromium both columns show, a
    prompt typed and Generate pressed gives both a continuation, and the screen can be captured."""
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("no chromium (apt-get install chromium)")
    from mechunlearn.demo.browser import Page

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = str(Path(sys.executable).with_name("mechunlearn"))
    server = subprocess.Popen([exe, "demo", str(pruned_run), "--port", str(port)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)  # fmt: skip
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("the demo server did not answer /_stcore/health within 2 minutes")
        with Page(f"http://127.0.0.1:{port}") as page:
            page.wait_for("base: bundled", "pruned", "Generate")
            page.type_into("textarea", PROMPT)
            page.wait_js(page.button_enabled("Generate"))  # the rerun after typing enables it
            page.click_button("Generate")
            page.wait_js("(document.body.innerText.match(/generated in/g) || []).length >= 2", timeout=300, settle=3.0)
            text = page.text()
            shot = page.screenshot(tmp_path / "demo.png")
        assert "Polyjuice" in text  # the base model's answer (the pruned model gives its own)
        assert "concept facts, MC (known)" in text
        assert shot.stat().st_size > 20_000
    finally:
        server.terminate()
        server.wait(timeout=30)
