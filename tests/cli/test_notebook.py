"""The exploration notebook runs top to bottom, and is stored without outputs.

The notebook reads its model, ranking method and ranking store from environment variables
(``MECHUNLEARN_NOTEBOOK_MODEL``, ``..._METHOD``, ``..._STORE``); the kernel inherits this
process's environment, so the tests set them here. The store always points at a temporary
folder, so the repository's ``probes/`` is never written.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from mechunlearn.core.paths import bundled_model_dir

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK = NOTEBOOKS / "explore_rankings.ipynb"
COMPARE = NOTEBOOKS / "compare_methods.ipynb"
KERNEL = "python3"


def _run(nb_path: Path, timeout: int) -> nbformat.NotebookNode:
    nb = nbformat.read(nb_path, as_version=4)
    client = NotebookClient(
        nb, kernel_name=KERNEL, timeout=timeout, resources={"metadata": {"path": str(nb_path.parent)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    return nb


def _output_text(nb: nbformat.NotebookNode) -> str:
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


@pytest.mark.parametrize("path", [NOTEBOOK, COMPARE], ids=lambda p: p.stem)
def test_notebook_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has no code cells"
    for i, c in enumerate(code):
        assert c.outputs == [], f"code cell {i} has stored outputs"
        assert c.execution_count is None, f"code cell {i} has execution_count {c.execution_count}"


def test_kernel_is_this_python():
    """nbclient starts kernelspec ``python3``; it must run this interpreter (the venv's)."""
    from jupyter_client.manager import KernelManager

    cmd = KernelManager(kernel_name=KERNEL).format_kernel_cmd()
    assert Path(cmd[0]).resolve() == Path(sys.executable).resolve(), cmd


def test_notebook_runs_on_tiny_model(tiny_gpt2_dir, tmp_path, monkeypatch):
    store = tmp_path / "probes"
    monkeypatch.setenv("MECHUNLEARN_NOTEBOOK_MODEL", str(tiny_gpt2_dir))
    monkeypatch.setenv("MECHUNLEARN_NOTEBOOK_METHOD", "probeless")
    monkeypatch.setenv("MECHUNLEARN_NOTEBOOK_STORE", str(store))
    nb = _run(NOTEBOOK, timeout=600)
    # the ranking went to the temporary store, under <model>/<concept>/<method>/
    assert (store / tiny_gpt2_dir.name / "harry_potter" / "probeless" / "ranking.json").is_file()
    text = _output_text(nb)
    assert "stored in:" in text and "[[" in text and "edits cleared:" in text


@pytest.mark.slow
@pytest.mark.skipif(
    not (bundled_model_dir() / "config.json").is_file(),
    reason="bundled model not built (python -m mechunlearn.bundled.train)",
)
def test_notebook_runs_on_bundled_model(tmp_path, monkeypatch):
    store = tmp_path / "probes"
    monkeypatch.delenv("MECHUNLEARN_NOTEBOOK_MODEL", raising=False)
    monkeypatch.delenv("MECHUNLEARN_NOTEBOOK_METHOD", raising=False)
    monkeypatch.setenv("MECHUNLEARN_NOTEBOOK_STORE", str(store))
    _run(NOTEBOOK, timeout=1800)
    assert (store / bundled_model_dir().name / "harry_potter" / "probeless" / "ranking.json").is_file()


@pytest.mark.skipif(
    not (bundled_model_dir() / "config.json").is_file(),
    reason="bundled model not built (python -m mechunlearn.bundled.train)",
)
def test_compare_notebook_runs_on_the_bundled_model(monkeypatch):
    """Without runs given, it makes a prune and an NPO run on the bundled model, compares and opens the best."""
    monkeypatch.delenv("MECHUNLEARN_NOTEBOOK_RUNS", raising=False)
    nb = _run(COMPARE, timeout=900)
    text = _output_text(nb)
    assert "runs: ['prune-32', 'npo-10']" in text and "best run:" in text
    assert "forget.mc" in text and "keep.mc" in text
    plotly = "application/vnd.plotly.v1+json"
    figures = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if plotly in o.get("data", {})]
    assert len(figures) == 2  # the compare page's figures, and the best run's neurons
