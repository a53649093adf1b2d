"""`unlearn --method whp` as a user runs it on the bundled model, and a concept without anchors refused."""

import json
import shutil

from mechunlearn.core.paths import concepts_dir
from tests.helpers import run_cli


def test_whp_trains_towards_generic_labels(monkeypatch, capsys, tmp_path, store):
    out, forget = tmp_path / "whp", tmp_path / "forget.txt"
    forget.write_text("\n".join((concepts_dir() / "harry_potter" / "forget.txt").read_text().splitlines()[:12]) + "\n")
    args = ["unlearn", "--method", "whp", "--steps", "6", "--lr", "1e-3", "-o", "reinforce_epochs=1", "--no-budget"]
    code, stdout, err = run_cli(monkeypatch, capsys, *args, "--forget-data", forget, "--out", out)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    curve = report["training"]["curve"]
    assert len(curve) == 6 and curve[-1]["generic"] < curve[0]["generic"], curve
    assert "generic labels: LabelStats(" in (out / "run.log").read_text()


def test_whp_refuses_a_concept_without_anchors(monkeypatch, capsys, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(concepts_dir() / "harry_potter", bare)
    (bare / "anchors.tsv").unlink()
    code, _, err = run_cli(
        monkeypatch, capsys, "unlearn", "--method", "whp", "--concept", bare, "--out", tmp_path / "x"
    )
    assert code == 2 and "concept 'bare' has no anchors.tsv" in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
